package stats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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

// Encode writes a table a block at a time: what it allocates stays a
// small share of what it writes, however large the tables (gob holds each
// message whole in memory; one message of everything took more than
// 100 MB at a million events). Its round trip holds many blocks.
func TestSnapshotEncodesInBlocks(t *testing.T) {
	a := New()
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 100_000
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		viewed := start.Add(time.Duration(r.IntN(90*86400)) * time.Second).Format(time.RFC3339)
		s := storylane.Session{ID: strconv.Itoa(i), Name: "Demo " + strconv.Itoa(r.IntN(10)), ViewedAt: viewed,
			UTMParams: map[string]string{"utm_campaign": "c" + strconv.Itoa(r.IntN(1000))}, BuyerReveal: &storylane.BuyerReveal{CompanyName: strconv.Itoa(r.IntN(5000))}}
		a.Apply(statstest.Event("e"+strconv.Itoa(i), s, uint64(i+1), start))
	}
	if _, err := a.Encode(io.Discard); err != nil { // merges what is pending
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	var buf bytes.Buffer
	buf.Grow(8 << 20) // the buffer's own growth is not Encode's
	runtime.ReadMemStats(&before)
	if _, err := a.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(buf.Len()/4) {
		t.Errorf("Encode() of %d bytes allocated %d bytes, want under a quarter of them", buf.Len(), alloc)
	}
	b, err := Decode(&buf)
	if err != nil {
		t.Fatalf("Decode() = %v", err)
	}
	if b.Events() != n || !sameJSON(t, b.Overview(Query{}), a.Overview(Query{})) || !sameJSON(t, b.Companies(Query{}), a.Companies(Query{})) {
		t.Errorf("Decode(Encode()) of %d events = %d events, or other figures", n, b.Events())
	}
}

// A snapshot is the aggregates as Encode captured them: what is applied
// while it is being written, into blocks and cells it holds, is not in it.
func TestSnapshotIsAsCaptured(t *testing.T) {
	a, want := dataset(t), dataset(t)
	st := a.capture()
	for _, e := range statstest.Events(t, "testdata/sessions.ndjson") { // the same keys, new ids
		e.Header.Set("ce-id", e.ID()+"-again")
		a.Apply(e)
	}
	var buf bytes.Buffer
	if err := st.write(&buf); err != nil {
		t.Fatal(err)
	}
	b, err := Decode(&buf)
	if err != nil {
		t.Fatalf("Decode() = %v", err)
	}
	if sameJSON(t, a.Overview(Query{}), want.Overview(Query{})) {
		t.Fatal("applying the dataset again changed no figure; the test would not see a snapshot that moves")
	}
	for _, q := range []Query{{}, {Demo: "Pricing"}} {
		if !sameJSON(t, b.Overview(q), want.Overview(q)) || !sameJSON(t, b.Campaigns(q), want.Campaigns(q)) ||
			!sameJSON(t, b.Companies(q), want.Companies(q)) || !sameJSON(t, b.Demos(q), want.Demos(q)) {
			t.Errorf("the snapshot's figures for %+v = %s, want those captured, %s", q, js(t, b.Overview(q)), js(t, want.Overview(q)))
		}
	}
}

// Encode and Apply at once: -race watches the values and cells a
// snapshot shares with the aggregates.
func TestEncodeWhileApplying(t *testing.T) {
	a := dataset(t)
	events := statstest.Events(t, "testdata/sessions.ndjson")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			e := events[i%len(events)]
			e.Header = nats.Header{"ce-id": {fmt.Sprint(e.ID(), "-", i)}}
			a.Apply(e)
		}
	}()
	for range 20 {
		if _, err := a.Encode(io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}
