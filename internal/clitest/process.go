package clitest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Build compiles every command of the module, and the nats-server of the
// version go.mod names, into a new temporary directory and returns it; the
// caller removes it. It is meant for TestMain, where testing.TB is not at
// hand, so it returns errors.
func Build() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(string(out[:len(out)-1]))
	dir, err := os.MkdirTemp("", "storylane-bridge-bin")
	if err != nil {
		return "", err
	}
	for _, pkg := range []string{"./cmd/...", "github.com/nats-io/nats-server/v2"} {
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	return dir, nil
}

// Process is a command running as a child process, its output collected.
type Process struct {
	Cmd  *exec.Cmd
	Logs *Logs
	done chan error
	err  error
	over bool
}

// StartProcess runs binary with args and the extra environment entries;
// the test's cleanup kills it if it is still running.
func StartProcess(t testing.TB, binary string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command(binary, args...), Logs: &Logs{}, done: make(chan error, 1)}
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Logs, p.Logs
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.Cmd.Wait() }()
	t.Cleanup(func() {
		if !p.over {
			p.Cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// Exit waits up to 30 seconds for the process to end and returns its exit
// status (-1 when a signal killed it).
func (p *Process) Exit(t testing.TB) int {
	t.Helper()
	if !p.over {
		select {
		case p.err = <-p.done:
			p.over = true
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not exit within 30s; output:\n%s", filepath.Base(p.Cmd.Path), p.Logs)
		}
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// MainWithBinaries is a TestMain for tests that run the built commands: it
// builds them into a temporary directory, stores its path in *dir, runs the
// tests, removes the directory and, when the tests passed, fails on leaked
// goroutines. It returns the exit status for os.Exit.
func MainWithBinaries(m *testing.M, dir *string) int {
	d, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*dir = d
	code := m.Run()
	os.RemoveAll(d)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	return code
}
