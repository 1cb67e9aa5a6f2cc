package broker

// OwnerPassword lets a test try the owner's password over the listener.
func OwnerPassword(e *Embedded) string { return e.owner }
