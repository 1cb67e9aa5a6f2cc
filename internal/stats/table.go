package stats

import (
	"maps"
	"slices"
	"sort"
)

// table is a sorted set of packed keys, each with a packed value unless it
// is a set of keys alone, in 8 or 16 bytes an entry: blocks of at most
// blockMax sorted keys (and their values), and a small map of the keys not
// merged in yet. A Go map of a million entries costs about 40 bytes each,
// and the campaigns' table reaches a million when days, demos and
// campaigns multiply (see BenchmarkMillion); blocks, unlike one sorted
// slice, never make the process hold a large array twice while it grows.
type table struct {
	blocks  []block
	pending map[uint64]uint64
	// combine adds a value to an entry's; nil for a set of keys alone.
	combine func(old, v uint64) uint64
}

// A block's keys are never changed in place (a merge writes new blocks),
// its values are; shared marks values a snapshot being written still
// reads, which add copies before it changes one (a block is 32 KB, the
// whole table's values up to 8 MB a million entries).
type block struct {
	keys, vals []uint64
	shared     bool
}

const (
	blockMax   = 4096
	pendingMax = 1 << 14
)

func newTable(combine func(old, v uint64) uint64) table {
	return table{pending: map[uint64]uint64{}, combine: combine}
}

// addCounts adds sessions and known counts packed as sessions<<32 | known.
func addCounts(old, v uint64) uint64 { return old + v }

// addVisit adds sessions (the high half) and keeps the latest visit (the
// low half, Unix seconds).
func addVisit(old, v uint64) uint64 {
	return (old>>32+v>>32)<<32 | uint64(max(uint32(old), uint32(v)))
}

// find is where k is, or would be, in the blocks.
func (t *table) find(k uint64) (b, i int, ok bool) {
	b = sort.Search(len(t.blocks), func(j int) bool { keys := t.blocks[j].keys; return keys[len(keys)-1] >= k })
	if b == len(t.blocks) {
		return b, 0, false
	}
	i, ok = slices.BinarySearch(t.blocks[b].keys, k)
	return b, i, ok
}

// add combines v into k's value.
func (t *table) add(k, v uint64) {
	if b, i, ok := t.find(k); ok {
		blk := &t.blocks[b]
		if blk.shared {
			blk.vals, blk.shared = slices.Clone(blk.vals), false
		}
		blk.vals[i] = t.combine(blk.vals[i], v)
		return
	}
	t.pending[k] = t.combine(t.pending[k], v)
	t.mergeIfFull()
}

// insert adds k to a set of keys and reports whether it was new.
func (t *table) insert(k uint64) bool {
	if _, _, ok := t.find(k); ok {
		return false
	}
	if _, ok := t.pending[k]; ok {
		return false
	}
	t.pending[k] = 0
	t.mergeIfFull()
	return true
}

func (t *table) mergeIfFull() {
	if len(t.pending) >= pendingMax {
		t.merge()
	}
}

// merge moves the pending entries into the blocks, rewriting only the
// blocks they fall in.
func (t *table) merge() {
	if len(t.pending) == 0 {
		return
	}
	add := slices.Sorted(maps.Keys(t.pending))
	out := make([]block, 0, len(t.blocks)+len(add)/blockMax+1)
	for b := 0; b < len(t.blocks) || len(add) > 0; b++ {
		if b == len(t.blocks) { // past the last key: new blocks
			out = append(out, t.split(block{}, add)...)
			break
		}
		blk := t.blocks[b]
		// Random keys touch every block: without letting go of each old
		// block once rewritten, the process held the whole table twice
		// until the merge ended (15 MB more for a million campaign cells).
		t.blocks[b] = block{}
		n := len(add)
		if b < len(t.blocks)-1 {
			n, _ = slices.BinarySearch(add, blk.keys[len(blk.keys)-1])
		}
		out = append(out, t.split(blk, add[:n])...)
		add = add[n:]
		if len(add) == 0 {
			out = append(out, t.blocks[b+1:]...)
			break
		}
	}
	t.blocks = out
	clear(t.pending)
}

// split merges the sorted keys add into blk, cut into blocks of at most
// blockMax.
func (t *table) split(blk block, add []uint64) []block {
	if len(add) == 0 {
		return []block{blk}
	}
	n := len(blk.keys) + len(add)
	keys := make([]uint64, 0, n)
	var vals []uint64
	if t.combine != nil {
		vals = make([]uint64, 0, n)
	}
	i := 0
	for _, k := range add {
		for ; i < len(blk.keys) && blk.keys[i] < k; i++ {
			keys = append(keys, blk.keys[i])
			if vals != nil {
				vals = append(vals, blk.vals[i])
			}
		}
		keys = append(keys, k)
		if vals != nil {
			vals = append(vals, t.pending[k])
		}
	}
	keys = append(keys, blk.keys[i:]...)
	if vals != nil {
		vals = append(vals, blk.vals[i:]...)
	}
	parts := (n + blockMax - 1) / blockMax
	var out []block
	for p := range parts {
		lo, hi := p*n/parts, (p+1)*n/parts
		nb := block{keys: slices.Clip(keys[lo:hi])}
		if vals != nil {
			nb.vals = slices.Clip(vals[lo:hi])
		}
		out = append(out, nb)
	}
	return out
}

// each calls fn for every entry, pending ones included.
func (t *table) each(fn func(k, v uint64)) {
	for _, b := range t.blocks {
		for i, k := range b.keys {
			fn(k, b.vals[i])
		}
	}
	for k, v := range t.pending {
		fn(k, v)
	}
}

func (t *table) len() int {
	n := len(t.pending)
	for _, b := range t.blocks {
		n += len(b.keys)
	}
	return n
}

// tableState is a table in a snapshot, merged: its blocks' keys and values.
type tableState struct {
	Keys, Vals [][]uint64
}

// capture merges t and returns its state, which stays as it is while t
// changes on: its blocks are marked shared, so that add copies the values
// of one before it changes them.
func (t *table) capture() tableState {
	t.merge()
	var s tableState
	for i := range t.blocks {
		b := &t.blocks[i]
		b.shared = true
		s.Keys = append(s.Keys, b.keys)
		if t.combine != nil {
			s.Vals = append(s.Vals, b.vals)
		}
	}
	return s
}

// restore replaces t's entries with s's, and reports whether s is a table
// of t's kind in order, each key passing valid.
func (t *table) restore(s tableState, valid func(k uint64) bool) bool {
	if (t.combine != nil) != (s.Vals != nil) && len(s.Keys) > 0 || t.combine != nil && len(s.Vals) != len(s.Keys) {
		return false
	}
	blocks := make([]block, len(s.Keys))
	var last uint64
	for i, keys := range s.Keys {
		if len(keys) == 0 || len(keys) > blockMax || !slices.IsSorted(keys) || i > 0 && keys[0] <= last {
			return false
		}
		last = keys[len(keys)-1]
		for _, k := range keys {
			if !valid(k) {
				return false
			}
		}
		blocks[i].keys = keys
		if t.combine != nil {
			if len(s.Vals[i]) != len(keys) {
				return false
			}
			blocks[i].vals = s.Vals[i]
		}
	}
	t.blocks = blocks
	return true
}
