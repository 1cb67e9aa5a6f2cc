package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

// nodeExampleDir is examples/node-consumer, which holds the Node tooling:
// the example consumer and the AsyncAPI validator, with one package.json.
const nodeExampleDir = "../../examples/node-consumer"

// installNode is what makes the Node tests runnable, from the module root.
const installNode = "cd examples/node-consumer && npm ci --ignore-scripts"

// nodeExample returns the node binary and the example's directory with the
// npm package pkg installed. Without them the test is skipped on a
// developer's machine, but fails under CI (CI set), which must install them.
func nodeExample(t *testing.T, pkg string) (node, dir string) {
	t.Helper()
	dir, err := filepath.Abs(nodeExampleDir)
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json"))
	}
	if err == nil {
		return node, dir
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("Node.js 20 and the npm package %s are needed (%v); CI must install them first: %s", pkg, err, installNode)
	}
	t.Skipf("needs Node.js 20 and the npm package %s (%v); to run it: %s", pkg, err, installNode)
	return "", ""
}

// runNode runs node with args in dir, giving up after two minutes (the
// parser takes seconds alone, longer beside the other tests), and returns
// its standard output and error.
func runNode(t *testing.T, node, dir string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.Bytes(), err
}

// post sends body to the bridge signed, with extra request headers, and
// returns the status.
func post(t *testing.T, url string, body []byte, header http.Header) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(secret)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestNodeConsumer runs examples/node-consumer/consumer.mjs, as the
// embedded listener's restricted reader (with no credentials, and signing
// with its nkey under --nats-listen-auth nkey), against a real bridge that
// stored Storylane's two examples and oddSession, and checks that each
// event it prints has the id, type, subject (percent-decoded), time and
// data, byte for byte, that the webhook makes, and that it removed its
// ordered consumer from the server on its way out.
func TestNodeConsumer(t *testing.T) {
	t.Parallel()
	node, dir := nodeExample(t, "cloudevents")
	for _, nkey := range []bool{false, true} {
		t.Run(fmt.Sprintf("nkey=%v", nkey), func(t *testing.T) {
			t.Parallel()
			var bridgeArgs, nodeArgs []string
			if nkey {
				bridgeArgs = []string{"--nats-listen-auth", "nkey"}
			}
			natsURL, url, dataDir := contractBridge(t, bridgeArgs...)
			var opts []nats.Option
			if nkey {
				nodeArgs = []string{"--nkey", filepath.Join(dataDir, "reader.nk")}
				opt, err := nats.NkeyOptionFromSeed(nodeArgs[1])
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, opt)
			}
			want := map[string][]byte{}
			for _, body := range contractSessions(t) {
				if code := post(t, url, body, nil); code != http.StatusOK {
					t.Fatalf("POST %s = %d, want 200", body, code)
				}
				want[cloudevent.ID(body)] = body
			}
			stdout, stderr, err := runNode(t, node, dir, append([]string{"consumer.mjs", "--server", natsURL, "--count", fmt.Sprint(len(want))}, nodeArgs...)...)
			if err != nil {
				t.Fatalf("node consumer.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(string(stdout), "\n"), "\n")
			if len(lines) != len(want) {
				t.Fatalf("node consumer.mjs printed %d lines, want %d:\n%s", len(lines), len(want), stdout)
			}
			for _, line := range lines {
				checkNodeEvent(t, line, want)
			}
			checkNoConsumers(t, readerJetStream(t, natsURL, opts...))
		})
	}
}

// checkNoConsumers: the stream has no consumer left.
func checkNoConsumers(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	stream, err := js.Stream(context.Background(), "STORYLANE")
	if err != nil {
		t.Fatal(err)
	}
	names := stream.ConsumerNames(context.Background())
	var left []string
	for name := range names.Name() {
		left = append(left, name)
	}
	if names.Err() != nil || len(left) != 0 {
		t.Errorf("consumers left on the stream after node consumer.mjs exited: %q (%v), want none", left, names.Err())
	}
}

// checkNodeEvent checks one line the Node consumer printed against the
// webhook bodies by event id; each is removed from want once seen.
func checkNodeEvent(t *testing.T, line string, want map[string][]byte) {
	t.Helper()
	var got struct {
		SpecVersion string `json:"specversion"`
		ID          string `json:"id"`
		Type        string `json:"type"`
		Subject     string `json:"subject"`
		Time        string `json:"time"`
		DataSchema  string `json:"dataschema"`
		DataBase64  []byte `json:"data_base64"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("node consumer.mjs printed %q: %v", line, err)
	}
	body, ok := want[got.ID]
	if !ok {
		t.Fatalf("node consumer.mjs printed event %q: not one of those sent, or twice", got.ID)
	}
	delete(want, got.ID)
	var s struct {
		ID       string          `json:"id"`
		Lead     json.RawMessage `json:"lead"`
		ViewedAt time.Time       `json:"viewed_at"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	wantType := cloudevent.TypeUnknown
	if string(s.Lead) != "" && string(s.Lead) != "null" {
		wantType = cloudevent.TypeKnown
	}
	for _, f := range []struct{ name, got, want string }{
		{"specversion", got.SpecVersion, "1.0"},
		{"type", got.Type, wantType},
		{"subject", got.Subject, s.ID},
		{"time", got.Time, s.ViewedAt.UTC().Format(time.RFC3339Nano)},
		{"dataschema", got.DataSchema, schemas.SessionSchemaID},
		{"data", string(got.DataBase64), string(body)},
	} {
		if f.got != f.want {
			t.Errorf("event %s: %s = %q, want %q", got.ID, f.name, f.got, f.want)
		}
	}
}
