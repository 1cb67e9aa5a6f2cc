// Package clitest runs a command's run function in the test's process, as
// main would, and watches the JSON log lines it writes.
package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// RunFunc is the shape of every command's run.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// Env turns a map into a getenv.
func Env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Logs collects the JSON lines a command writes, so a test can wait for
// one and read its fields. It is safe for concurrent use.
type Logs struct {
	mu      sync.Mutex
	partial []byte
	entries []map[string]any
	raw     bytes.Buffer
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.raw.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		var m map[string]any
		if json.Unmarshal(l.partial[:i], &m) == nil {
			l.entries = append(l.entries, m)
		}
		l.partial = l.partial[i+1:]
	}
}

// Wait returns the first entry whose message is msg, failing the test when
// none comes within 15 seconds.
func (l *Logs) Wait(t testing.TB, msg string) map[string]any {
	t.Helper()
	var e map[string]any
	if !poll.Within(15*time.Second, func() bool { e = l.Find(msg); return e != nil }) {
		t.Fatalf("no %q log line after 15s; log:\n%s", msg, l.String())
	}
	return e
}

// Find returns the first entry whose message is msg, or nil.
func (l *Logs) Find(msg string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e["msg"] == msg {
			return e
		}
	}
	return nil
}

// String is everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

// Running is a run function going in the background.
type Running struct {
	Logs   *Logs
	cancel context.CancelFunc
	done   chan error
	err    error
	ended  bool
}

// Start calls run in a goroutine; the test's cleanup stops it.
func Start(t testing.TB, run RunFunc, args []string, vars map[string]string) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Logs: &Logs{}, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx, args, Env(vars), r.Logs) }()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Cancel cancels run's context, as a signal would, without waiting.
func (r *Running) Cancel() { r.cancel() }

// Stop cancels run's context, as a signal would, and returns what run
// returned; stopping again returns the same.
func (r *Running) Stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	return r.Wait(t)
}

// Wait waits for run to return by itself and returns its error.
func (r *Running) Wait(t testing.TB) error {
	t.Helper()
	if r.ended {
		return r.err
	}
	select {
	case r.err = <-r.done:
		r.ended = true
		return r.err
	case <-time.After(30 * time.Second):
		r.cancel()
		t.Fatalf("run did not return within 30s; log:\n%s", r.Logs)
		return nil
	}
}
