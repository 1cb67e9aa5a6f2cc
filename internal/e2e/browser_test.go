package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// installChromium is what makes the browser tests runnable on Debian.
const installChromium = "apt-get install -y chromium"

// chromiumPath returns Debian's chromium. Without it the test is skipped on
// a developer's machine, but fails under CI (CI set), which must install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("chromium is needed (%v); CI must install it first: %s", err, installChromium)
	}
	t.Skipf("needs chromium (%v); to run it: %s", err, installChromium)
	return ""
}

// tab is one page of a headless Chromium, with every request it made and
// every error its console reported.
type tab struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string // URLs, in order
	errors   []string
}

// openTab starts a headless Chromium of its own for the test, closed and
// checked for leftover processes in the test's cleanup.
func openTab(t *testing.T, chromium string, width, height int) *tab {
	t.Helper()
	profile := filepath.Join(t.TempDir(), "profile")
	output := &clitest.Logs{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, height), chromedp.CombinedOutput(output))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, _ := chromedp.NewContext(allocCtx)
	tb := &tab{ctx: ctx}
	t.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Cancel(closeCtx); err != nil {
			t.Logf("closing chromium: %v", err)
		}
		cancelAlloc() // waits for the browser process
		checkNoProcessUses(t, profile)
		if t.Failed() {
			t.Logf("chromium's output:\n%s", output)
		}
	})
	// The first run starts the browser, with no deadline: a deadline on it
	// would be the browser's lifetime.
	if err := chromedp.Listen(ctx, tb.record); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, output)
	}
	return tb
}

// record keeps what the page asked for and what it reported as an error:
// a failed request, a CSP violation, an uncaught exception, console.error.
func (tb *tab) record(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		tb.requests = append(tb.requests, e.Request.URL)
	case *runtime.EventExceptionThrown:
		text := e.ExceptionDetails.Text
		if ex := e.ExceptionDetails.Exception; ex != nil {
			text += " " + ex.Description
		}
		tb.errors = append(tb.errors, fmt.Sprintf("exception at %s:%d: %s", e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber, text))
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			tb.errors = append(tb.errors, "console."+string(e.Type)+": "+strings.Join(args, " "))
		}
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			tb.errors = append(tb.errors, fmt.Sprintf("%s error: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	}
}

// do runs steps, failing the test when they take longer than within.
func (tb *tab) do(t *testing.T, within time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("chromium: %v; console errors: %q", err, tb.consoleErrors())
	}
}

// eval evaluates a script in the page and returns its value.
func eval[T any](t *testing.T, tb *tab, script string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script))
	if err != nil {
		t.Fatalf("evaluate %s: %v", script, err)
	}
	return v
}

// accessibleNames returns the names that Chromium's accessibility tree,
// what a screen reader reads, gives the nodes of role, in document order.
func (tb *tab) accessibleNames(t *testing.T, role string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	tree, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (accessibility.GetFullAXTreeResult, error) {
		return cdp.Call(ctx, tg, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	})
	if err != nil {
		t.Fatalf("accessibility tree: %v", err)
	}
	var names []string
	for _, n := range tree.Nodes {
		var r, name string
		if n.Ignored || n.Role == nil || n.Name == nil || json.Unmarshal(n.Role.Value, &r) != nil || r != role {
			continue
		}
		if err := json.Unmarshal(n.Name.Value, &name); err != nil {
			t.Fatalf("accessible name %s: %v", n.Name.Value, err)
		}
		names = append(names, name)
	}
	return names
}

func (tb *tab) consoleErrors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.errors...)
}

func (tb *tab) requested() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.requests...)
}

// checkOnlyOrigin fails the test for every request the page made to
// anything but origin (scheme://host:port), and for every console error.
func (tb *tab) checkOnlyOrigin(t *testing.T, origin string) {
	t.Helper()
	want, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	requests := tb.requested()
	for _, r := range requests {
		u, err := url.Parse(r)
		if err == nil && u.Scheme == "data" {
			continue // asks no host: the date field's own calendar icon
		}
		if err != nil || u.Scheme != want.Scheme || u.Host != want.Host {
			t.Errorf("the page requested %s, want nothing but %s", r, origin)
		}
	}
	if len(requests) == 0 {
		t.Error("no request recorded: the recording does not work")
	}
	for _, e := range tb.consoleErrors() {
		t.Errorf("the page's console: %s", e)
	}
}

// checkNoProcessUses fails the test for every process still running with
// the browser's profile directory, and kills it: Chromium's helpers must
// end with the browser.
func checkNoProcessUses(t *testing.T, profile string) {
	t.Helper()
	var left []int
	if poll.Within(5*time.Second, func() bool { left = processesUsing(profile); return len(left) == 0 }) {
		return
	}
	for _, pid := range left {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	t.Errorf("chromium processes %v still running after the browser closed", left)
}

func processesUsing(profile string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), "--user-data-dir="+profile+"\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}
