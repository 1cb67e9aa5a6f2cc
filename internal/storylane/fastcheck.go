package storylane

import (
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"
)

// check is a schema compiled for the hot path: it walks a parsed payload
// without building a generic tree, and knows only the keywords the session
// schema uses (type, required, properties, additionalProperties, minLength,
// maxLength). It answers "valid" only when the payload surely is; anything
// else goes to the library, which has the final word and the reasons.
//
// It earns its place (about 20 µs a webhook, docs/performance.md) and stays
// fenced: unexported, reached only through schema.validate, and held to the
// library by FuzzFastCheck (a payload it passes that the library refuses)
// and TestSessionSchemaCompiles (the session schema must stay inside the
// subset, or every webhook silently takes the library's path).
type check struct {
	types      typeSet // 0 for any type
	minLen     int
	maxLen     int // -1 for no bound
	required   []string
	props      map[string]*check
	additional *check // nil: any additional property is allowed
}

type typeSet uint8

const (
	tObject typeSet = 1 << iota
	tArray
	tString
	tNumber
	tBoolean
	tNull
)

// typeNamed is the type a schema names, or 0 for "integer", which would
// need the library's idea of an integer.
func typeNamed(name string) typeSet {
	switch name {
	case "object":
		return tObject
	case "array":
		return tArray
	case "string":
		return tString
	case "number":
		return tNumber
	case "boolean":
		return tBoolean
	case "null":
		return tNull
	}
	return 0
}

// compile turns s into a check, or reports false when s uses anything
// beyond the subset, in which case every payload goes to the library.
func compile(s *jsonschema.Schema) (*check, bool) {
	if !supported(s) {
		return nil, false
	}
	c := &check{minLen: 0, maxLen: -1, required: s.Required}
	if s.Types != nil {
		for _, name := range s.Types.ToStrings() {
			t := typeNamed(name)
			if t == 0 {
				return nil, false
			}
			c.types |= t
		}
	}
	if s.MinLength != nil {
		c.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		c.maxLen = *s.MaxLength
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case *jsonschema.Schema:
		sub, ok := compile(a)
		if !ok {
			return nil, false
		}
		c.additional = sub
	default: // false, or a form this subset does not know
		return nil, false
	}
	if len(s.Properties) > 0 {
		c.props = make(map[string]*check, len(s.Properties))
		for name, p := range s.Properties {
			sub, ok := compile(p)
			if !ok {
				return nil, false
			}
			c.props[name] = sub
		}
	}
	return c, true
}

// supported reports whether s uses only keywords the subset implements;
// annotations (title, description, examples…) do not matter.
func supported(s *jsonschema.Schema) bool {
	return s.Bool == nil && s.Ref == nil && s.RecursiveRef == nil && s.DynamicRef == nil &&
		s.Enum == nil && s.Const == nil && s.Not == nil && s.AllOf == nil && s.AnyOf == nil && s.OneOf == nil &&
		s.If == nil && s.Then == nil && s.Else == nil && s.Format == nil &&
		s.MaxProperties == nil && s.MinProperties == nil && s.PropertyNames == nil && s.PatternProperties == nil &&
		s.Dependencies == nil && s.DependentRequired == nil && s.DependentSchemas == nil && s.UnevaluatedProperties == nil &&
		s.MinItems == nil && s.MaxItems == nil && !s.UniqueItems && s.Contains == nil && s.MinContains == nil && s.MaxContains == nil &&
		s.Items == nil && s.AdditionalItems == nil && s.PrefixItems == nil && s.Items2020 == nil && s.UnevaluatedItems == nil &&
		s.Pattern == nil && s.ContentEncoding == nil && s.ContentMediaType == nil && s.ContentSchema == nil &&
		s.Maximum == nil && s.Minimum == nil && s.ExclusiveMaximum == nil && s.ExclusiveMinimum == nil && s.MultipleOf == nil &&
		s.Extensions == nil
}

// valid reports whether v surely matches. A key given twice is checked at
// each occurrence, so a pass holds for the last one, which is the one the
// library and the parser read.
func (c *check) valid(v *fastjson.Value) bool {
	if c.types != 0 && c.types&typeOf(v) == 0 {
		return false
	}
	switch v.Type() {
	case fastjson.TypeString:
		return c.validString(v)
	case fastjson.TypeObject:
		return c.validObject(v)
	}
	return true
}

func (c *check) validString(v *fastjson.Value) bool {
	if c.minLen == 0 && c.maxLen < 0 {
		return true
	}
	b, _ := v.StringBytes()
	// Lengths count characters, as JSON Schema says; a byte count bounds
	// them from above and saves the count for most strings.
	if len(b) < c.minLen {
		return false
	}
	if c.maxLen >= 0 && len(b) > c.maxLen {
		n := utf8.RuneCount(b)
		return n >= c.minLen && n <= c.maxLen
	}
	return c.minLen <= 1 || utf8.RuneCount(b) >= c.minLen
}

func (c *check) validObject(v *fastjson.Value) bool {
	o, _ := v.Object()
	for _, name := range c.required {
		if o.Get(name) == nil {
			return false
		}
	}
	if c.props == nil && c.additional == nil {
		return true
	}
	ok := true
	o.Visit(func(k []byte, f *fastjson.Value) {
		if !ok {
			return
		}
		sub, known := c.props[string(k)]
		if !known {
			sub = c.additional
		}
		ok = sub == nil || sub.valid(f)
	})
	return ok
}

func typeOf(v *fastjson.Value) typeSet {
	switch v.Type() {
	case fastjson.TypeObject:
		return tObject
	case fastjson.TypeArray:
		return tArray
	case fastjson.TypeString:
		return tString
	case fastjson.TypeNumber:
		return tNumber
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return tBoolean
	}
	return tNull
}
