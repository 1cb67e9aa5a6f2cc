package stats

import (
	"maps"
	"slices"
)

// table maps a packed key to a packed value in 16 bytes an entry: sorted
// keys and their values, and a small map of the keys not merged in yet. A
// Go map of a million entries costs about 40 bytes each, and the
// campaigns' table reaches a million when days, demos and campaigns
// multiply (see BenchmarkMillion).
type table struct {
	Keys, Vals []uint64
	Pending    map[uint64]uint64
	combine    func(old, v uint64) uint64
}

const pendingMax = 1 << 14

func newTable(combine func(old, v uint64) uint64) table {
	return table{Pending: map[uint64]uint64{}, combine: combine}
}

// addCounts adds sessions and known counts packed as sessions<<32 | known.
func addCounts(old, v uint64) uint64 { return old + v }

// addVisit adds sessions (the high half) and keeps the latest visit (the
// low half, Unix seconds).
func addVisit(old, v uint64) uint64 {
	return (old>>32+v>>32)<<32 | uint64(max(uint32(old), uint32(v)))
}

func (t *table) add(k, v uint64) {
	if i, ok := slices.BinarySearch(t.Keys, k); ok {
		t.Vals[i] = t.combine(t.Vals[i], v)
		return
	}
	t.Pending[k] = t.combine(t.Pending[k], v)
	if len(t.Pending) >= pendingMax {
		t.merge()
	}
}

// merge moves the pending entries into the sorted slices, in place from
// the back.
func (t *table) merge() {
	if len(t.Pending) == 0 {
		return
	}
	add := slices.Sorted(maps.Keys(t.Pending))
	n := len(t.Keys)
	t.Keys = slices.Grow(t.Keys, len(add))[:n+len(add)]
	t.Vals = slices.Grow(t.Vals, len(add))[:n+len(add)]
	i, j := n-1, len(add)-1
	for k := len(t.Keys) - 1; j >= 0; k-- {
		if i >= 0 && t.Keys[i] > add[j] {
			t.Keys[k], t.Vals[k] = t.Keys[i], t.Vals[i]
			i--
		} else {
			t.Keys[k], t.Vals[k] = add[j], t.Pending[add[j]]
			j--
		}
	}
	clear(t.Pending)
}

// each calls fn for every entry, pending ones included.
func (t *table) each(fn func(k, v uint64)) {
	for i, k := range t.Keys {
		fn(k, t.Vals[i])
	}
	for k, v := range t.Pending {
		fn(k, v)
	}
}

func (t *table) len() int { return len(t.Keys) + len(t.Pending) }
