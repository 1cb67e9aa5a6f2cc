package stats

import "hash/fnv"

// The ids already counted are kept as 8-byte hashes in a table of keys
// alone. Two ids sharing a 64-bit hash would count once: at a million ids
// the chance is about 3e-8.

// idHash is FNV-1a, whose fixed seed keeps the hashes of a snapshot valid
// in the next process (maphash's seeds are random).
func idHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}
