package ingress

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// headSize is the most of a body read before its buffer is sized: a
// Storylane payload (about 2 KB) is read whole into a pooled head and
// copied once into a buffer of its size, without touching the byte budget.
// The heads in use are bounded by the webhooks handled at once.
const headSize = 8 << 10

// errBudget reports a body that found no room in the byte budget in time.
var errBudget = errors.New("no room for the body in the buffered-bytes budget")

// bodies reads request bodies within a budget of bytes held at once, so
// that many large bodies cannot take the process's memory: a body larger
// than a head waits, bounded, for room for its whole buffer before it is
// allocated, and gives the room back when the request ends.
type bodies struct {
	budget *semaphore.Weighted
	wait   time.Duration
	heads  sync.Pool
}

func newBodies(budget int64, wait time.Duration) *bodies {
	return &bodies{budget: semaphore.NewWeighted(budget), wait: wait,
		heads: sync.Pool{New: func() any { return new([headSize]byte) }}}
}

// read reads r (already bounded to the largest body) to its end. size is
// the announced length, or -1. release gives the bytes reserved back; it is
// never nil, and is called once the body is no longer used.
func (b *bodies) read(ctx context.Context, r io.Reader, size, limit int64) (body []byte, release func(), err error) {
	head := b.heads.Get().(*[headSize]byte)
	defer b.heads.Put(head)
	n, err := io.ReadFull(r, head[:])
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		body := make([]byte, n)
		copy(body, head[:n])
		return body, func() {}, nil
	}
	if err != nil {
		return nil, func() {}, err
	}
	// Longer than a head: room for all of it, sized once when its length
	// was announced, and grown a step at a time, each step reserved, when
	// not.
	want := limit + 1 // +1: room to see a body past the limit
	if size >= 0 {
		want = min(size, limit) + 1
	}
	step := max(min(want, 2*headSize), headSize+1)
	if size >= 0 {
		step = want
	}
	var held int64
	release = func() { b.budget.Release(held) }
	if err := b.reserve(ctx, step); err != nil {
		return nil, func() {}, err
	}
	held = step
	buf := make([]byte, headSize, step)
	copy(buf, head[:])
	for {
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, release, nil
		}
		if err != nil {
			return buf, release, err
		}
		if len(buf) == cap(buf) {
			grow := min(int64(cap(buf)), limit+1-int64(cap(buf)))
			if grow <= 0 { // the reader's bound reports the overflow next
				grow = 1
			}
			if err := b.reserve(ctx, grow); err != nil {
				return buf, release, err
			}
			held += grow
			buf = append(make([]byte, 0, int64(cap(buf))+grow), buf...)
		}
	}
}

// reserve waits, bounded, for n bytes of the budget.
func (b *bodies) reserve(ctx context.Context, n int64) error {
	if b.budget.TryAcquire(n) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if b.budget.Acquire(ctx, n) != nil {
		return errBudget
	}
	return nil
}
