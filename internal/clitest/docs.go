package clitest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// helpFlag matches a flag line of --help: "  --name type  [$VARIABLE]".
var helpFlag = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)\b.*\[\$([A-Z0-9_]+)\]$`)

// ConfigurationDoc is where every binary's flags and variables are
// documented, relative to the module's root.
const ConfigurationDoc = "docs/configuration.md"

// CheckHelpInDocs runs a command's --help and fails the test for every flag
// or variable it lists that docs/configuration.md does not mention, so the
// two cannot drift apart. It runs from the command's package directory.
func CheckHelpInDocs(t *testing.T, run RunFunc) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, Env(nil), &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help = %v, want flag.ErrHelp", err)
	}
	found := helpFlag.FindAllStringSubmatch(out.String(), -1)
	if len(found) < 5 {
		t.Fatalf("--help lists %d flags with variables:\n%s", len(found), out.String())
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(ConfigurationDoc)))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range found {
		for _, word := range []string{"`--" + m[1] + "`", "`" + m[2] + "`"} {
			if !strings.Contains(string(doc), word) {
				t.Errorf("--help lists %s but %s does not", word, ConfigurationDoc)
			}
		}
	}
}
