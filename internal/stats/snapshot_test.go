package stats

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/stats/statstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func TestSnapshotRoundTrip(t *testing.T) {
	a := dataset(t)
	var buf bytes.Buffer
	seq, err := a.Encode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 10 {
		t.Errorf("Encode() seq = %d, want 10", seq)
	}
	b, err := Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Decode() = %v", err)
	}
	if b.Seq() != 10 || b.Events() != 8 {
		t.Errorf("Decode(): seq %d, events %d, want 10, 8", b.Seq(), b.Events())
	}
	for _, q := range []Query{{}, {Demo: "Pricing"}, {From: day(t, "2024-05-18")}} {
		if !sameJSON(t, b.Overview(q), a.Overview(q)) || !sameJSON(t, b.Campaigns(q), a.Campaigns(q)) ||
			!sameJSON(t, b.Companies(q), a.Companies(q)) || !sameJSON(t, b.Demos(q), a.Demos(q)) {
			t.Errorf("Decode(Encode()) figures for %+v differ", q)
		}
	}
	// What was counted before the snapshot stays counted once after it.
	s := storylane.Session{ID: "s8", Name: "Pricing", Link: "https://app.storylane.io/demo/b", ViewedAt: "2024-05-18T12:00:00Z",
		Completion: "n/a", TimeSpent: "-3"}
	if b.Apply(statstest.Event("s8-event", s, 11, time.Now())) {
		t.Error("Apply(an event counted before the snapshot) = true, want false")
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	var buf bytes.Buffer
	if _, err := dataset(t).Encode(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(good)/2] ^= 0x40
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"another magic", append([]byte("storylane-stats snapshot v9\n"), good[len(snapshotMagic):]...)},
		{"torn in the payload", good[:len(good)/2]},
		{"torn in the checksum", good[:len(good)-5]},
		{"a byte flipped", flipped},
		{"trailing bytes", append(bytes.Clone(good), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(bytes.NewReader(tt.data)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode() = %v, want ErrCorrupt", err)
			}
		})
	}
}
