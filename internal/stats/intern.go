package stats

// interned numbers the distinct values of a kind (demos, campaigns,
// companies), so that the tables hold small indexes, not strings.
type interned[T comparable] struct {
	ids    map[T]int
	values []T
}

func newInterned[T comparable]() interned[T] { return interned[T]{ids: map[T]int{}} }

func (in *interned[T]) index(v T) int {
	if i, ok := in.ids[v]; ok {
		return i
	}
	in.values = append(in.values, v)
	in.ids[v] = len(in.values) - 1
	return len(in.values) - 1
}

func (in *interned[T]) restore(values []T) {
	in.values = values
	in.ids = make(map[T]int, len(values))
	for i, v := range values {
		in.ids[v] = i
	}
}
