package storylane

import "github.com/valyala/fastjson"

// HasControl is ValidJSON's scan for control characters.
func HasControl(b []byte) bool { return hasControl(b) }

// Decode is the package's parse, for tests that read what it parsed.
func Decode(p *fastjson.Parser, raw []byte) (*fastjson.Value, error) { return decode(p, raw) }

// Generic is the tree the schema library checks.
func Generic(v *fastjson.Value) any { return generic(v) }
