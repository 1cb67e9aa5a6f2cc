package keyring

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// watched is a keyring loaded from a file of content, with its log.
func watched(t *testing.T, content string) (*Keyring, string, *observer.ObservedLogs) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "secrets")
	clitest.ReplaceFile(t, file, content)
	l, err := Load(file, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	k := New(l, prometheus.NewRegistry(), zap.New(core))
	k.settle = 0
	return k, file, logs
}

func (k *Keyring) reloads(result string) float64 {
	return testutil.ToFloat64(k.reloadsTotal.WithLabelValues(result))
}

func accepts(k *Keyring, secret string) bool {
	body := []byte(`{"id":"x"}`)
	_, err := k.Verify(body, storylane.Sign(body, []byte(secret)))
	return err == nil
}

// TestMissingFileReportedOnce: a secret file gone is one failure, logged
// and counted once however many checks find it gone, and again only after
// it came back and went again. (Before the fix, every check counted it.)
func TestMissingFileReportedOnce(t *testing.T) {
	t.Parallel()
	k, file, logs := watched(t, "kept\n")
	if err := os.Rename(file, file+".away"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		k.reload(false)
	}
	if got := k.reloads("error"); got != 1 {
		t.Errorf("reloads{error} after 3 checks of a missing file = %v, want 1", got)
	}
	if n := logs.FilterMessage("webhook secrets not reloaded; the previous ones stay in use").Len(); n != 1 {
		t.Errorf("failed reload logged %d times for one missing file, want 1", n)
	}
	if !accepts(k, "kept") {
		t.Error("the secret in use was dropped with its file missing")
	}
	if err := os.Rename(file+".away", file); err != nil {
		t.Fatal(err)
	}
	k.reload(false)
	os.Remove(file)
	k.reload(false)
	if got := k.reloads("error"); got != 2 {
		t.Errorf("reloads{error} after the file came back and went again = %v, want 2", got)
	}
}

// TestBrokenFileReportedOnce: the same broken content is one failure; a
// forced reload (SIGHUP) reports it again, as the operator asked.
func TestBrokenFileReportedOnce(t *testing.T) {
	t.Parallel()
	k, file, _ := watched(t, "kept\n")
	clitest.ReplaceFile(t, file, "\n")
	k.reload(false)
	k.reload(false)
	if got := k.reloads("error"); got != 1 {
		t.Errorf("reloads{error} after 2 checks of one empty file = %v, want 1", got)
	}
	k.reload(true)
	if got := k.reloads("error"); got != 2 {
		t.Errorf("reloads{error} after a forced reload = %v, want 2", got)
	}
}

// TestHalfWrittenFileNotSwappedIn: a file read while it is written in place
// holds a cut-short list that may parse; it is not swapped in, and the
// whole file is, at the next check. (Before the fix the truncated secret
// was accepted until the next check.)
func TestHalfWrittenFileNotSwappedIn(t *testing.T) {
	t.Parallel()
	k, file, _ := watched(t, "old-secret\n")
	whole := "new-secret\nold-secret\n"
	reads := []string{"new-secret\nold-sec", whole}
	k.read = func(name string) ([]byte, error) {
		if name != file {
			t.Errorf("read %s, want %s", name, file)
		}
		next := reads[0]
		if len(reads) > 1 {
			reads = reads[1:]
		}
		return []byte(next), nil
	}
	k.reload(false)
	if accepts(k, "old-sec") || !accepts(k, "old-secret") {
		t.Fatalf("after reading a half-written file: accepts old-sec %t, old-secret %t; want false, true",
			accepts(k, "old-sec"), accepts(k, "old-secret"))
	}
	k.reload(false)
	if !accepts(k, "new-secret") || !accepts(k, "old-secret") || k.reloads("ok") != 1 || k.reloads("error") != 0 {
		t.Errorf("after the whole file: accepts new %t, old %t, reloads ok %v, error %v; want true, true, 1, 0",
			accepts(k, "new-secret"), accepts(k, "old-secret"), k.reloads("ok"), k.reloads("error"))
	}
}

// TestWatchReloadsAChangedFile: a rotation is an edit of the file, noticed
// within the interval, with both secrets accepted at once; Watch ends with
// its context.
func TestWatchReloadsAChangedFile(t *testing.T) {
	t.Parallel()
	k, file, logs := watched(t, "old-secret\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.Watch(ctx, 10*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()
	clitest.ReplaceFile(t, file, "new-secret\nold-secret\n")
	poll.Eventually(t, "the new secret accepted", 10*time.Second, func() bool { return accepts(k, "new-secret") })
	if !accepts(k, "old-secret") || k.Len() != 2 || k.reloads("ok") != 1 {
		t.Errorf("after the rotation: accepts old %t, %d secrets, reloads ok %v; want true, 2, 1", accepts(k, "old-secret"), k.Len(), k.reloads("ok"))
	}
	if logs.FilterMessage("webhook secrets reloaded").Len() != 1 {
		t.Errorf("reload logged %d times, want once", logs.FilterMessage("webhook secrets reloaded").Len())
	}
}
