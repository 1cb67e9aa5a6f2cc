package schemas_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/schemas"
)

func TestSchemaIDMatchesConstant(t *testing.T) {
	t.Parallel()
	var doc struct {
		ID     string `json:"$id"`
		Schema string `json:"$schema"`
	}
	if err := json.Unmarshal(schemas.SessionSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != schemas.SessionSchemaID {
		t.Errorf("schema $id = %q, want %q", doc.ID, schemas.SessionSchemaID)
	}
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("schema $schema = %q, want draft 2020-12", doc.Schema)
	}
}

func TestExamplesAreStorylanesBytes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"known", "unknown"} {
		got, err := schemas.Example(name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile("examples/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("Example(%q) differs from examples/%s.json", name, name)
		}
	}
	if _, err := schemas.Example("nope"); err == nil {
		t.Error(`Example("nope") = nil error, want an error`)
	}
}
