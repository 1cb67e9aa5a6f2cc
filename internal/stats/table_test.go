package stats

import (
	"math/rand/v2"
	"testing"
)

// A table holds what a map would, through many merges, with or without
// values.
func TestTableAgreesWithAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	counts, set := newTable(addCounts), newTable(nil)
	want := map[uint64]uint64{}
	for i := range 200_000 {
		k := r.Uint64N(60_000) << 20 // repeats, in no order
		counts.add(k, 1<<32|uint64(i%2))
		want[k] += 1<<32 | uint64(i%2)
		if got, isNew := set.insert(k), want[k]>>32 == 1; got != isNew {
			t.Fatalf("insert(%d) = %v, want %v", k, got, isNew)
		}
	}
	got := map[uint64]uint64{}
	counts.each(func(k, v uint64) { got[k] = v })
	if len(got) != len(want) || counts.len() != len(want) || set.len() != len(want) {
		t.Fatalf("tables hold %d, %d, %d entries, want %d", len(got), counts.len(), set.len(), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("entry %d = %x, want %x", k, got[k], v)
		}
	}
	for _, b := range counts.blocks {
		if len(b.keys) > blockMax || len(b.keys) != len(b.vals) {
			t.Fatalf("a block of %d keys and %d values, want at most %d of each", len(b.keys), len(b.vals), blockMax)
		}
	}
}
