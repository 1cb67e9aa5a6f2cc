package e2e_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
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

// runNode runs node with args in dir, giving up after a minute, and returns
// its standard output and error.
func runNode(t *testing.T, node, dir string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
