package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// binary is the storylane-bridge built once for the tests that run it as a
// real process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "storylane-bridge-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "storylane-bridge")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// process is the bridge binary running as a child process.
type process struct {
	cmd  *exec.Cmd
	logs *logWatcher
	done chan error
}

func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary, args...), logs: &logWatcher{}, done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exit waits for the process to end and returns its exit status.
func (p *process) exit(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("process did not exit in 30s; output:\n%s", p.logs)
		return -1
	}
}

func TestProcessExitsWith2WithoutSecret(t *testing.T) {
	t.Parallel()
	p := startProcess(t, []string{"STORYLANE_WEBHOOK_SECRET="}, "--data-dir", t.TempDir())
	if code := p.exit(t); code != 2 {
		t.Errorf("storylane-bridge without a secret exited %d, want 2", code)
	}
	if !strings.Contains(p.logs.String(), "STORYLANE_WEBHOOK_SECRET") {
		t.Errorf("storylane-bridge without a secret said %q, want it to name STORYLANE_WEBHOOK_SECRET", p.logs)
	}
}

// TestProcessStopsCleanlyOnSIGTERM runs the real binary on the embedded
// broker, stores a webhook, stops it with SIGTERM, and finds the webhook
// again after starting it on the same data.
func TestProcessStopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"STORYLANE_WEBHOOK_SECRET=" + testSecret, "BRIDGE_DATA_DIR=" + dir}
	args := []string{"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}
	p := startProcess(t, env, args...)
	url := "http://" + p.logs.wait(t, "listening")["addr"].(string)
	known := example(t, "known")
	if a := post(t, url, known, testSecret); a.status != http.StatusOK {
		t.Fatalf("POST known = %d %v, want 200", a.status, a.body)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exit(t); code != 0 {
		t.Fatalf("storylane-bridge after SIGTERM exited %d, want 0; output:\n%s", code, p.logs)
	}
	p.logs.wait(t, "embedded nats stopped")

	p = startProcess(t, env, args...)
	natsURL := p.logs.wait(t, "embedded nats started")["client_url"].(string)
	msgs := streamMessages(t, natsURL, "STORYLANE")
	if len(msgs) != 1 || msgs[0].Subject != "storylane.session.known" {
		t.Errorf("after a restart the stream holds %d messages, want the known session", len(msgs))
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.exit(t); code != 0 {
		t.Errorf("storylane-bridge after SIGINT exited %d, want 0", code)
	}
}
