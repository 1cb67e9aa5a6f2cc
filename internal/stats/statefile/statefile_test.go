package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/stats"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func apply(a *stats.Aggregates, id string, seq uint64, known bool) {
	s := storylane.Session{ID: id, Name: "Demo", ViewedAt: "2024-05-17T10:00:00Z"}
	if known {
		s.BuyerReveal = &storylane.BuyerReveal{CompanyName: "Acme"}
	}
	a.Apply(consume.Event{Session: s, StreamSeq: seq, Stored: time.Now(), Header: nats.Header{"ce-id": {id}}})
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a := stats.New()
	apply(a, "a", 1, true)
	apply(a, "b", 2, false)
	apply(a, "a", 3, true) // a redelivery: counted once, sequence moves on
	seq, err := Write(dir, a)
	if err != nil || seq != 3 {
		t.Fatalf("Write() = %d, %v, want 3, nil", seq, err)
	}
	b, err := Read(dir)
	if err != nil {
		t.Fatalf("Read() = %v", err)
	}
	if got := b.Overview(stats.Query{}).Totals; got.Sessions != 2 || got.Known != 1 || b.Seq() != 3 {
		t.Errorf("Read(): sessions %d, known %d, seq %d, want 2, 1, 3", got.Sessions, got.Known, b.Seq())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d files, want the snapshot alone", len(entries))
	}
}

func TestNone(t *testing.T) {
	if _, err := Read(t.TempDir()); !errors.Is(err, ErrNone) {
		t.Errorf("Read(empty dir) = %v, want ErrNone", err)
	}
}

func TestTornRefused(t *testing.T) {
	dir := t.TempDir()
	a := stats.New()
	apply(a, "a", 1, true)
	if _, err := Write(dir, a); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, Name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data[:len(data)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); !errors.Is(err, stats.ErrCorrupt) {
		t.Errorf("Read(torn) = %v, want ErrCorrupt", err)
	}
}

// A snapshot holds the sequence of what it counts, read under the same
// lock: written while events are applied, its sequence is never past them.
func TestNeverAhead(t *testing.T) {
	dir := t.TempDir()
	a := stats.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 2000; i++ {
			apply(a, "e"+string(rune('a'+i%26))+time.Duration(i).String(), uint64(i), false)
		}
	}()
	for range 20 {
		if _, err := Write(dir, a); err != nil {
			t.Fatal(err)
		}
		b, err := Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Overview(stats.Query{}).Totals.Sessions; uint64(got) != b.Seq() {
			t.Fatalf("snapshot: %d sessions at sequence %d, want as many as the sequence", got, b.Seq())
		}
	}
	<-done
}
