package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/loadgen"
)

const secret = "bench-secret"

// suite holds the built binaries and the results.
type suite struct {
	bin, root string
	// base holds the baseline's binaries, named by baseRev; empty without
	// -baseline.
	base, baseRev string
	cpus          int
	results       map[string]loadgen.Result
	extra         map[string]string
	procs         []*proc
}

func newSuite(ctx context.Context, baseline string) (*suite, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, err
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	work, err := os.MkdirTemp("", "storylane-bench")
	if err != nil {
		return nil, err
	}
	s := &suite{bin: filepath.Join(work, "bin"), root: work, cpus: runtime.NumCPU(), results: map[string]loadgen.Result{}, extra: map[string]string{}}
	fmt.Println("building ...")
	if err := build(ctx, root, s.bin, "./cmd/...", "./internal/benchmark/barebridge", "github.com/nats-io/nats-server/v2"); err != nil {
		os.RemoveAll(work)
		return nil, err
	}
	if baseline != "" {
		if err := s.buildBaseline(ctx, root, baseline); err != nil {
			os.RemoveAll(work)
			return nil, err
		}
	}
	return s, nil
}

// build builds pkgs of the module at dir into bin, as the Dockerfile builds
// what we ship: static, without cgo (a cgo build maps libc as well, about
// 1.6 MiB more resident memory).
func build(ctx context.Context, dir, bin string, pkgs ...string) error {
	for _, pkg := range pkgs {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin+"/", pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
	}
	return nil
}

// buildBaseline builds the bridge and session-archive of revision rev from
// a temporary git worktree, removed again once they are built.
func (s *suite) buildBaseline(ctx context.Context, root, rev string) error {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", rev+"^{commit}").Output()
	if err != nil {
		return fmt.Errorf("-baseline %s: not a revision of %s: %w", rev, root, err)
	}
	s.baseRev, s.base = strings.TrimSpace(string(out)), filepath.Join(s.root, "bin-base")
	tree := filepath.Join(s.root, "baseline-src")
	if b, err := exec.CommandContext(ctx, "git", "-C", root, "worktree", "add", "--detach", tree, s.baseRev).CombinedOutput(); err != nil {
		return fmt.Errorf("git worktree add %s: %w\n%s", s.baseRev, err, b)
	}
	defer exec.Command("git", "-C", root, "worktree", "remove", "--force", tree).Run()
	fmt.Printf("building the baseline, %s ...\n", s.baseRev)
	return build(ctx, tree, s.base, "./cmd/storylane-bridge", "./cmd/session-archive")
}

// binaries is where the binaries of the current code or of the baseline
// are.
func (s *suite) binaries(baseline bool) string {
	if baseline {
		return s.base
	}
	return s.bin
}

// tmpfsMagic is statfs's f_type of a tmpfs.
const tmpfsMagic = 0x01021994

// storeWarning says when the stores live in memory, where an fsync costs
// nothing and --sync-interval always measures the same as 2m.
func (s *suite) storeWarning() string {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.root, &fs); err != nil || fs.Type != tmpfsMagic {
		return ""
	}
	return fmt.Sprintf("warning: %s is on tmpfs: fsyncs cost nothing there; set TMPDIR to a directory on a disk", s.root)
}

func (s *suite) close() {
	for _, p := range s.procs {
		p.stop()
	}
	os.RemoveAll(s.root)
}

// proc is a process of the suite, its output scanned for a line.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	// store is removed when the process has stopped (see stop).
	store string
}

func (s *suite) start(name string, env []string, args ...string) (*proc, error) {
	return s.startFrom(s.bin, name, env, args...)
}

// startFrom starts the binary name found in bin.
func (s *suite) startFrom(bin, name string, env []string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(filepath.Join(bin, name), args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.out.Write(append(sc.Bytes(), '\n'))
			p.mu.Unlock()
		}
	}()
	go func() { p.cmd.Wait(); w.Close(); close(p.done) }()
	s.procs = append(s.procs, p)
	return p, nil
}

// wait returns the first output line containing text, within 30 seconds.
func (p *proc) wait(text string) (string, error) { return p.waitFor(text, 30*time.Second) }

// waitFor returns the first output line containing text, within limit.
func (p *proc) waitFor(text string, limit time.Duration) (string, error) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		for _, line := range strings.Split(p.out.String(), "\n") {
			if strings.Contains(line, text) {
				p.mu.Unlock()
				return line, nil
			}
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return "", fmt.Errorf("%s: no %q in %s:\n%s", filepath.Base(p.cmd.Path), text, limit, p.out.String())
}

// field reads a JSON log line's string field.
func field(line, name string) string {
	var m map[string]any
	json.Unmarshal([]byte(line), &m)
	v, _ := m[name].(string)
	return v
}

// number reads a JSON log line's number field.
func number(line, name string) float64 {
	var m map[string]any
	json.Unmarshal([]byte(line), &m)
	v, _ := m[name].(float64)
	return v
}

func (p *proc) stop() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	// A step's stream is hundreds of megabytes not yet on disk: removed
	// now, it is never written back. Left, the kernel writes it out 30 s
	// later, during another step, whose broker then stalls on its own
	// writes (p99 of 33 and 74 ms in an open loop that otherwise has 4).
	if p.store != "" {
		if err := os.RemoveAll(p.store); err != nil {
			fmt.Fprintf(os.Stderr, "removing %s: %v (later steps may be measured during its write-back)\n", p.store, err)
		}
		p.store = ""
	}
}

// natsServer starts a fresh local nats-server with JetStream and returns
// its URL.
func (s *suite) natsServer() (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	store, err := os.MkdirTemp(s.root, "js")
	if err != nil {
		return nil, "", err
	}
	conf := filepath.Join(store, "nats.conf")
	// Room for the bridge's default 1 MiB body and its headers.
	text := fmt.Sprintf("listen: \"127.0.0.1:%d\"\nmax_payload: 2MB\njetstream { store_dir: %q }\n", port, store)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, "", err
	}
	p, err := s.start("nats-server", nil, "-c", conf)
	if err != nil {
		return nil, "", err
	}
	p.store = store
	if _, err := p.wait("Server is ready"); err != nil {
		return nil, "", err
	}
	return p, fmt.Sprintf("nats://127.0.0.1:%d", port), nil
}

// streamServer starts a fresh nats-server and has storylane-bridge create
// its stream, as a deployment's first bridge does.
func (s *suite) streamServer() (*proc, string, error) {
	srv, url, err := s.natsServer()
	if err != nil {
		return nil, "", err
	}
	bridge, _, err := s.bridge("--nats-url", url)
	if err != nil {
		srv.stop()
		return nil, "", err
	}
	bridge.stop()
	return srv, url, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// load runs storylane-loadgen with args and returns its results. A run in
// which any request failed is an error (the generator exits 1 and says
// why): what it measured is not the throughput of a bridge serving load.
func (s *suite) load(ctx context.Context, args ...string) ([]loadgen.Result, error) {
	// What earlier steps left unwritten is written now, not during the run.
	syscall.Sync()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "storylane-loadgen"), append(args, "--json", "-")...)
	cmd.Env = append(os.Environ(), "STORYLANE_WEBHOOK_SECRET="+secret)
	out, err := cmd.Output()
	if err != nil {
		var why []byte // the generator's last words: which run failed and why
		if exitErr, ok := errors.AsType[*exec.ExitError](err); ok {
			why = exitErr.Stderr
		}
		return nil, fmt.Errorf("storylane-loadgen %v: %w\n%s%s", args, err, out, why)
	}
	i := bytes.Index(out, []byte("\n["))
	if i < 0 {
		return nil, fmt.Errorf("storylane-loadgen printed no results:\n%s", out)
	}
	var rs []loadgen.Result
	return rs, json.Unmarshal(out[i+1:], &rs)
}
