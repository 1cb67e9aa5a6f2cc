package archive_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/archive"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func open(t *testing.T, dir string) *archive.Archive {
	t.Helper()
	a, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func line(id string) []byte {
	return []byte(fmt.Sprintf(`{"specversion":"1.0","id":%q,"data":{"id":"s"}}`, id))
}

func partitionLines(t *testing.T, dir, day string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "dt="+day, archive.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("partition %s ends without a newline: %q", day, b)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestAppendOncePerID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := open(t, dir)
	ctx := context.Background()
	for _, id := range []string{"a", "b", "a", "c", "b"} {
		if err := a.Append(ctx, "2024-05-17", id, line(id)); err != nil {
			t.Fatal(err)
		}
	}
	// On disk as soon as Append returns.
	got := partitionLines(t, dir, "2024-05-17")
	if want := []string{string(line("a")), string(line("b")), string(line("c"))}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("partition = %q, want %q", got, want)
	}
}

func TestPutOncePerID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := open(t, dir)
	ctx := context.Background()
	for _, id := range []string{"a", "b", "a"} {
		if err := a.Put("2024-05-17", id, line(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// An id put before is known to Append too, and waits for nothing new.
	if err := a.Append(ctx, "2024-05-17", "b", line("b")); err != nil {
		t.Fatal(err)
	}
	got := partitionLines(t, dir, "2024-05-17")
	if want := []string{string(line("a")), string(line("b"))}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("partition after Put a, b, a and Append b = %q, want %q", got, want)
	}
	// Appending an id put but not yet flushed waits for its flush, which
	// Append starts.
	if err := a.Put("2024-05-17", "d", line("d")); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Append(actx, "2024-05-17", "d", line("d")); err != nil {
		t.Errorf("Append of an id only put = %v, want nil once it is flushed", err)
	}
	a.Close()
	if err := a.Put("2024-05-17", "c", line("c")); err == nil {
		t.Error("Put after Close = nil, want an error")
	}
	if err := a.Sync(ctx); err == nil {
		t.Error("Sync after Close = nil, want an error")
	}
}

func TestDayPartitions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := open(t, dir)
	for i, day := range []string{"2024-05-17", "2024-05-18", "2024-05-17"} {
		if err := a.Append(context.Background(), day, fmt.Sprint(i), line(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(partitionLines(t, dir, "2024-05-17")); n != 2 {
		t.Errorf("dt=2024-05-17 holds %d lines, want 2", n)
	}
	if n := len(partitionLines(t, dir, "2024-05-18")); n != 1 {
		t.Errorf("dt=2024-05-18 holds %d lines, want 1", n)
	}
	if got := archive.Day(time.Date(2024, 5, 17, 23, 30, 0, 0, time.FixedZone("", -3600))); got != "2024-05-18" {
		t.Errorf("Day(23:30 at -01:00) = %s, want the UTC date 2024-05-18", got)
	}
}

func TestEventDay(t *testing.T) {
	t.Parallel()
	stored := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		t    time.Time
		want string
	}{
		{"a session's day", time.Date(2024, 5, 17, 10, 58, 5, 0, time.UTC), "2024-05-17"},
		{"its UTC date", time.Date(2024, 5, 17, 23, 30, 0, 0, time.FixedZone("", -3600)), "2024-05-18"},
		{"first day of the window", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), "2000-01-01"},
		{"in the window in UTC", time.Date(1999, 12, 31, 23, 30, 0, 0, time.FixedZone("", -3600)), "2000-01-01"},
		{"last day of the window", time.Date(2100, 12, 31, 23, 59, 59, 0, time.UTC), "2100-12-31"},
		{"year 0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), "2026-11-29"},
		{"no time", time.Time{}, "2026-11-29"},
		{"before the window", time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC), "2026-11-29"},
		{"after the window", time.Date(2101, 1, 1, 0, 0, 0, 0, time.UTC), "2026-11-29"},
		{"year 9999", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), "2026-11-29"},
	}
	for _, c := range cases {
		if got := archive.EventDay(c.t, stored); got != c.want {
			t.Errorf("EventDay(%s: %v, %v) = %s, want %s", c.name, c.t, stored, got, c.want)
		}
	}
}

func TestConcurrentAppendsGroupCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := open(t, dir)
	var wg sync.WaitGroup
	errs := make(chan error, 2000)
	for i := range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint(i % 1000) // every id twice, at once
			errs <- a.Append(context.Background(), "2024-05-17", id, line(id))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	lines := partitionLines(t, dir, "2024-05-17")
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Errorf("line %s written twice", l)
		}
		seen[l] = true
	}
	if len(lines) != 1000 {
		t.Errorf("partition holds %d lines, want 1000", len(lines))
	}
}

func TestReopenKnowsWhatIsWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := open(t, dir)
	a.Append(context.Background(), "2024-05-17", "a", line("a"))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := open(t, dir)
	for _, id := range []string{"a", "b"} {
		if err := b.Append(context.Background(), "2024-05-17", id, line(id)); err != nil {
			t.Fatal(err)
		}
	}
	if got := partitionLines(t, dir, "2024-05-17"); len(got) != 2 {
		t.Errorf("after reopening, partition = %q, want a and b once each", got)
	}
}

func TestRepairsALineCutByACrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	part := filepath.Join(dir, "dt=2024-05-17")
	os.MkdirAll(part, 0o755)
	whole := append(append(line("a"), '\n'), append(line("b"), '\n')...)
	cut := append(whole, line("c")[:20]...)
	os.WriteFile(filepath.Join(part, archive.FileName), cut, 0o644)
	a := open(t, dir)
	for _, id := range []string{"a", "b", "c"} {
		if err := a.Append(context.Background(), "2024-05-17", id, line(id)); err != nil {
			t.Fatal(err)
		}
	}
	got := partitionLines(t, dir, "2024-05-17")
	want := []string{string(line("a")), string(line("b")), string(line("c"))}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after repair, partition = %q, want %q", got, want)
	}
}

func TestLongLines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := open(t, dir)
	long := []byte(`{"id":"long","data":"` + strings.Repeat("x", 600<<10) + `"}`)
	a.Append(context.Background(), "2024-05-17", "long", long)
	a.Close()
	b := open(t, dir)
	b.Append(context.Background(), "2024-05-17", "long", long)
	if got := partitionLines(t, dir, "2024-05-17"); len(got) != 1 || !bytes.Equal([]byte(got[0]), long) {
		t.Errorf("partition holds %d lines, want the 600 KiB line once", len(got))
	}
}

func TestRefusesAFileItCannotRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	part := filepath.Join(dir, "dt=2024-05-17")
	os.MkdirAll(part, 0o755)
	os.WriteFile(filepath.Join(part, archive.FileName), []byte("{\"id\":\"a\"}\nnot json\n"), 0o644)
	a := open(t, dir)
	if err := a.Append(context.Background(), "2024-05-17", "b", line("b")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("Append to a file with a corrupt line = %v, want an error naming line 2", err)
	}
}
