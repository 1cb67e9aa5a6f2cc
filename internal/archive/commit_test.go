package archive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gatedSync lets a test hold every fsync until it says so.
type gatedSync struct {
	started chan string
	release chan error
}

func newGatedSync() *gatedSync {
	return &gatedSync{started: make(chan string, 100), release: make(chan error)}
}

func (g *gatedSync) sync(f *os.File) error {
	g.started <- filepath.Base(filepath.Dir(f.Name()))
	return <-g.release
}

func openGated(t *testing.T) (*Archive, *gatedSync) {
	t.Helper()
	a, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := newGatedSync()
	a.sync = g.sync
	t.Cleanup(func() {
		close(g.release) // every fsync from now on succeeds at once
		a.Close()
	})
	return a, g
}

func appendAsync(a *Archive, ctx context.Context, day, id string) chan error {
	done := make(chan error, 1)
	go func() { done <- a.Append(ctx, day, id, []byte(`{"id":"`+id+`"}`)) }()
	return done
}

func returned(done chan error) bool {
	select {
	case <-done:
		return true
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

// TestAppendWaitsForItsFsync: Append does not return before the fsync that
// covers its line, nor does a duplicate of it.
func TestAppendWaitsForItsFsync(t *testing.T) {
	a, g := openGated(t)
	first := appendAsync(a, context.Background(), "2024-05-17", "a")
	if got := <-g.started; got != "dt=2024-05-17" {
		t.Fatalf("synced %s, want the partition's file (opening it)", got)
	}
	g.release <- nil // the fsync of opening the partition
	if got := <-g.started; got != "dt=2024-05-17" {
		t.Fatalf("synced %s, want the partition after the line", got)
	}
	dup := appendAsync(a, context.Background(), "2024-05-17", "a")
	if returned(first) || returned(dup) {
		t.Fatal("Append returned before the fsync of its line")
	}
	g.release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-dup; err != nil {
		t.Fatal(err)
	}
}

func TestAppendGivesUpWithItsContext(t *testing.T) {
	a, g := openGated(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := appendAsync(a, ctx, "2024-05-17", "a")
	<-g.started
	g.release <- nil
	<-g.started // the line's fsync, held
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context = %v, want context.Canceled", err)
	}
	g.release <- nil
}

// TestFailedFsyncBreaksTheArchive: after an fsync fails, the waiting append
// and every later one fail, and Broken says so.
// failFirstAppend appends a line whose fsync fails (the partition's own at
// open succeeds) and returns the append's error.
func failFirstAppend(a *Archive, g *gatedSync) error {
	done := appendAsync(a, context.Background(), "2024-05-17", "a")
	<-g.started
	g.release <- nil
	<-g.started
	g.release <- errors.New("disk on fire")
	return <-done
}

func TestFailedFsyncBreaksTheArchive(t *testing.T) {
	a, g := openGated(t)
	if err := failFirstAppend(a, g); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Append whose fsync failed = %v, want the fsync error", err)
	}
	select {
	case <-a.Broken():
	default:
		t.Error("Broken() is not closed after a failed fsync")
	}
	if err := a.Append(context.Background(), "2024-05-17", "b", []byte(`{"id":"b"}`)); err == nil {
		t.Error("Append after a failed fsync = nil, want an error")
	}
}

// TestSyncReportsAnEarlierFailure: a Sync whose own flush has nothing to
// do still fails after an earlier flush did.
func TestSyncReportsAnEarlierFailure(t *testing.T) {
	a, g := openGated(t)
	failFirstAppend(a, g)
	if err := a.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Sync after a failed flush = %v, want the flush's error", err)
	}
}

func TestUnreadablePartitionBreaksTheArchive(t *testing.T) {
	dir := t.TempDir()
	part := filepath.Join(dir, "dt=2024-05-17")
	os.MkdirAll(part, 0o755)
	os.WriteFile(filepath.Join(part, FileName), []byte("garbage\n"), 0o644)
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Append(context.Background(), "2024-05-17", "a", []byte(`{"id":"a"}`)); err == nil {
		t.Fatal("Append to an unreadable partition = nil, want an error")
	}
	select {
	case <-a.Broken():
	default:
		t.Error("Broken() is not closed: the day's events would be skipped, not archived")
	}
}

func TestEvictsIdlePartitions(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	for d := range 40 {
		day := time.Date(2024, 1, 1+d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		if err := a.Append(ctx, day, day, []byte(`{"id":"`+day+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	a.mu.Lock()
	open := len(a.parts)
	a.mu.Unlock()
	if open > maxOpen {
		t.Errorf("%d partitions open, want at most %d", open, maxOpen)
	}
	// An evicted day still knows its ids.
	if err := a.Append(ctx, "2024-01-01", "2024-01-01", []byte(`{"id":"2024-01-01"}`)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "dt=2024-01-01", FileName))
	if n := strings.Count(string(b), "\n"); n != 1 {
		t.Errorf("evicted partition holds %d lines after a duplicate append, want 1", n)
	}
}

func TestOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A second open file description, as a second process would have.
	if b, err := Open(dir); err == nil {
		b.Close()
		t.Error("Open of a directory already open = nil error, want it refused")
	}
	a.Close()
	b, err := Open(dir)
	if err != nil {
		t.Errorf("Open after Close = %v, want the directory free", err)
	} else {
		b.Close()
	}
}

// TestSyncWaitsForTheFsync: lines put without waiting are durable when
// Sync returns, not before.
func TestSyncWaitsForTheFsync(t *testing.T) {
	t.Parallel()
	a, g := openGated(t)
	go func() { <-g.started; g.release <- nil }() // the partition's own fsync at open
	if err := a.Put("2024-05-17", "a", []byte(`{"id":"a"}`)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Sync(context.Background()) }()
	<-g.started // the commit's fsync
	select {
	case err := <-done:
		t.Fatalf("Sync() = %v before its fsync ended, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.release <- nil
	if err := <-done; err != nil {
		t.Errorf("Sync() = %v, want nil", err)
	}
}
