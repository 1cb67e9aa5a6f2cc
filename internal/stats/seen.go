package stats

import (
	"hash/fnv"
	"slices"
)

// seenSet holds the ids already counted as 8-byte hashes: a sorted slice
// (8 bytes an id) and a small map of the recent ones, merged into the slice
// when it fills. A map of a million uint64 costs about twice the slice.
// Two ids sharing a 64-bit hash would count once: at a million ids the
// chance is about 3e-8.
type seenSet struct {
	sorted []uint64
	recent map[uint64]struct{}
}

// recentMax bounds the map; merging costs O(len(sorted)) every recentMax ids.
const recentMax = 1 << 15

// idHash is FNV-1a, whose fixed seed keeps the hashes of a snapshot valid
// in the next process (maphash's seeds are random).
func idHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

func newSeenSet() seenSet { return seenSet{recent: map[uint64]struct{}{}} }

// add reports whether h was new, and records it.
func (s *seenSet) add(h uint64) bool {
	if _, ok := s.recent[h]; ok {
		return false
	}
	if _, ok := slices.BinarySearch(s.sorted, h); ok {
		return false
	}
	s.recent[h] = struct{}{}
	if len(s.recent) >= recentMax {
		s.merge()
	}
	return true
}

func (s *seenSet) merge() {
	add := make([]uint64, 0, len(s.recent))
	for h := range s.recent {
		add = append(add, h)
	}
	slices.Sort(add)
	s.sorted = mergeSorted(s.sorted, add)
	clear(s.recent)
}

// mergeSorted merges b into a in place from the back, growing a once.
func mergeSorted(a, b []uint64) []uint64 {
	n := len(a)
	a = slices.Grow(a, len(b))[:n+len(b)]
	i, j, k := n-1, len(b)-1, len(a)-1
	for j >= 0 {
		if i >= 0 && a[i] > b[j] {
			a[k] = a[i]
			i--
		} else {
			a[k] = b[j]
			j--
		}
		k--
	}
	return a
}

// all returns every hash, sorted, for a snapshot.
func (s *seenSet) all() []uint64 {
	s.merge()
	return s.sorted
}

func (s *seenSet) len() int { return len(s.sorted) + len(s.recent) }
