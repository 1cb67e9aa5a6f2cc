package storylane

// HasControl is ValidJSON's scan for control characters.
func HasControl(b []byte) bool { return hasControl(b) }
