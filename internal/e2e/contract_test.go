package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// asyncAPIPath is the event contract, from this package's directory.
const asyncAPIPath = "../../schemas/asyncapi.yaml"

// contract is schemas/asyncapi.yaml as generic JSON values, enough of it to
// hold it to the wire: channels, their message, its headers and examples.
type contract struct {
	root map[string]any
}

// headerRule is what the contract says of one header of a message: whether
// it is required, and every schema given for it (allOf may give several).
type headerRule struct {
	required bool
	schemas  []map[string]any
}

// contractChannel is one channel with its single message.
type contractChannel struct {
	key, address string
	message      map[string]any
	headers      map[string]*headerRule
}

func loadContract(t *testing.T) contract {
	t.Helper()
	raw, err := os.ReadFile(asyncAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("%s: %v", asyncAPIPath, err)
	}
	var root map[string]any
	if err := json.Unmarshal(j, &root); err != nil {
		t.Fatalf("%s: %v", asyncAPIPath, err)
	}
	return contract{root: root}
}

// deref follows local references ("#/components/..."), however chained;
// others (the session schema's file) are left as they are.
func (c contract) deref(t *testing.T, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	for range 10 {
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#/") {
			return m
		}
		var cur any = c.root
		for _, tok := range strings.Split(ref[2:], "/") {
			tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
			next, _ := cur.(map[string]any)
			cur = next[tok]
		}
		if m, ok = cur.(map[string]any); !ok {
			t.Fatalf("%s: $ref %s resolves to nothing", asyncAPIPath, ref)
		}
	}
	t.Fatalf("%s: a $ref chain loops", asyncAPIPath)
	return nil
}

// collectHeaders merges the properties and required lists of a headers
// schema and of every schema in its allOf.
func (c contract) collectHeaders(t *testing.T, schema any, into map[string]*headerRule) {
	t.Helper()
	s := c.deref(t, schema)
	for _, sub := range asSlice(s["allOf"]) {
		c.collectHeaders(t, sub, into)
	}
	rule := func(name string) *headerRule {
		if into[name] == nil {
			into[name] = &headerRule{}
		}
		return into[name]
	}
	props, _ := s["properties"].(map[string]any)
	for name, p := range props {
		rule(name).schemas = append(rule(name).schemas, c.deref(t, p))
	}
	for _, name := range asSlice(s["required"]) {
		rule(fmt.Sprint(name)).required = true
	}
}

func (c contract) channels(t *testing.T) []contractChannel {
	t.Helper()
	chans, _ := c.root["channels"].(map[string]any)
	var out []contractChannel
	for key, v := range chans {
		ch := c.deref(t, v)
		msgs, _ := ch["messages"].(map[string]any)
		if len(msgs) != 1 {
			t.Fatalf("channel %s has %d messages; this test reads channels of one message", key, len(msgs))
		}
		for _, m := range msgs {
			msg := c.deref(t, m)
			hs := map[string]*headerRule{}
			c.collectHeaders(t, msg["headers"], hs)
			out = append(out, contractChannel{key: key, address: fmt.Sprint(ch["address"]), message: msg, headers: hs})
		}
	}
	slices.SortFunc(out, func(a, b contractChannel) int { return strings.Compare(a.address, b.address) })
	return out
}

// addressPattern matches the subjects of a channel address, each {parameter}
// standing for one subject token.
func addressPattern(address string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i, part := range regexp.MustCompile(`\{[^}]+\}`).Split(address, -1) {
		if i > 0 {
			b.WriteString(`[^.]+`)
		}
		b.WriteString(regexp.QuoteMeta(part))
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// check reports what is wrong with value for the header's declared
// schemas: a const, an enum or a pattern it does not meet.
func (r *headerRule) check(value string) error {
	for _, s := range r.schemas {
		if want, ok := s["const"]; ok && value != fmt.Sprint(want) {
			return fmt.Errorf("%q, want the const %q", value, want)
		}
		if enum, ok := s["enum"]; ok && !slices.Contains(asSlice(enum), any(value)) {
			return fmt.Errorf("%q, not one of %v", value, enum)
		}
		if p, ok := s["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				return fmt.Errorf("pattern %q: %v", p, err)
			}
			if !re.MatchString(value) {
				return fmt.Errorf("%q does not match %s", value, p)
			}
		}
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// sessionSchemaRef is where the contract's session payload points.
func (c contract) sessionSchemaRef(t *testing.T) string {
	t.Helper()
	schemas, _ := c.deref(t, c.root["components"])["schemas"].(map[string]any)
	session, _ := schemas["session"].(map[string]any)
	ref, _ := session["$ref"].(string)
	return filepath.Join(filepath.Dir(asyncAPIPath), filepath.FromSlash(ref))
}

// TestAsyncAPIValid has the AsyncAPI project's own parser validate the
// contract: any diagnostic of severity error fails.
func TestAsyncAPIValid(t *testing.T) {
	t.Parallel()
	node, dir := nodeExample(t, "@asyncapi/parser")
	doc, err := filepath.Abs(asyncAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runNode(t, node, dir, "validate.mjs", doc)
	for _, line := range strings.Split(string(stdout), "\n") {
		if strings.HasPrefix(line, "error\t") {
			t.Errorf("@asyncapi/parser: %s", line)
		}
	}
	if err != nil {
		t.Fatalf("node validate.mjs %s: %v\n%s%s", doc, err, stdout, stderr)
	}
}
