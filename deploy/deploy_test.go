// Package deploy holds the deployment files; its tests check them offline,
// as CI can: YAML syntax, the compose file against the Compose
// specification, the Kubernetes manifests rendered by kustomize and decoded
// strictly into the Kubernetes API types, the Helm values against the NATS
// configuration, the NATS configuration by loading it as nats-server does,
// and the Dockerfile's build command by running it. (The NATS configuration
// also runs for real in internal/e2e's cluster tests.)
package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// yamlFiles lists every YAML file under deploy/.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 5 {
		t.Fatalf("found %d YAML files under deploy/, want the compose file, the manifests and the Helm values", len(out))
	}
	return out
}

func TestYAMLSyntax(t *testing.T) {
	t.Parallel()
	for _, path := range yamlFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for n := 1; ; n++ {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s document %d: %v", path, n, err)
				break
			}
		}
	}
}

// TestNoSecretsInTheRepo: passwords and secrets in deploy files are
// references (environment, Secret, file), never values.
func TestNoSecretsInTheRepo(t *testing.T) {
	t.Parallel()
	files := append(yamlFiles(t), "nats/nats.conf", "nats/accounts.conf", "nats/hub.conf", "nats/hub-accounts.conf")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			l := strings.TrimSpace(line)
			if strings.HasPrefix(l, "#") {
				continue
			}
			key, value, ok := strings.Cut(l, ":")
			if !ok || !strings.Contains(strings.ToLower(key), "password") {
				continue
			}
			value = strings.Trim(strings.TrimSpace(value), `"',}`)
			if value != "" && !strings.Contains(value, "$") {
				t.Errorf("%s:%d: %q holds a literal password", path, i+1, l)
			}
		}
	}
}

// toJSON converts a YAML document to JSON, for strict decoding into Go
// types.
func toJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
