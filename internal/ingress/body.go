package ingress

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// headSize is the most of a body read before its buffer is sized: a
// Storylane payload (about 2 KB) is read whole into a pooled head and
// copied once into a buffer of its size, without touching the byte budget.
// The heads in use are bounded by the webhooks handled at once.
const headSize = 8 << 10

// clientShare is the part of the byte budget one client may hold: the
// bodies of a few clients that announce large ones and stall cannot take
// it all.
const clientShare = 8

// errBudget reports a body that found no room in the buffered-bytes budget
// in time, or whose client holds its share of it already.
var errBudget = errors.New("no room for the body in the buffered-bytes budget")

// errOverrun reports a body longer than the room reserved for it.
var errOverrun = errors.New("body longer than announced")

// bodies reads request bodies within a budget of bytes held at once, so
// that many large bodies cannot take the process's memory: a body larger
// than a head waits, bounded, for room for its whole buffer before it is
// allocated, and gives the room back when the request ends.
type bodies struct {
	budget *semaphore.Weighted
	limit  int64 // the largest body
	share  int64 // the most one client holds
	wait   time.Duration
	heads  sync.Pool

	mu   sync.Mutex
	held map[netip.Addr]int64
}

func newBodies(budget, limit int64, wait time.Duration) *bodies {
	return &bodies{budget: semaphore.NewWeighted(budget), limit: limit, share: max(budget/clientShare, limit+1), wait: wait,
		heads: sync.Pool{New: func() any { return new([headSize]byte) }}, held: map[netip.Addr]int64{}}
}

// read reads r (already bounded to the largest body) to its end for the
// client key. size is the announced length, or -1. release gives the bytes
// reserved back; it is never nil, and is called once the body is no longer
// used.
func (b *bodies) read(ctx context.Context, key netip.Addr, r io.Reader, size int64) (body []byte, release func(), err error) {
	head := b.heads.Get().(*[headSize]byte)
	defer b.heads.Put(head)
	n, err := readFull(r, head[:])
	if err == io.EOF {
		body := make([]byte, n)
		copy(body, head[:n])
		return body, func() {}, nil
	}
	if err != nil {
		return nil, func() {}, err
	}
	// Longer than a head: room for all of it, announced or the largest,
	// reserved and allocated once, +1 to see a body past the limit.
	want := b.limit + 1
	if size >= 0 {
		want = min(size, b.limit) + 1
	}
	release, err = b.reserve(ctx, key, want)
	if err != nil {
		return nil, func() {}, err
	}
	buf := make([]byte, headSize, want)
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
			// Unreachable with net/http, which ends a body at its
			// Content-Length, under http.MaxBytesReader, which fails
			// past the limit; a full buffer must not spin.
			return buf, release, errOverrun
		}
	}
}

// readFull fills p from r. It returns io.EOF when r ended within p, and
// nil when p is full: unlike io.ReadFull it passes on a body cut short
// (io.ErrUnexpectedEOF from net/http) as the error it is.
func readFull(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// reserve waits, bounded, for n bytes of the budget for key, and returns
// the function that gives them back.
func (b *bodies) reserve(ctx context.Context, key netip.Addr, n int64) (func(), error) {
	b.mu.Lock()
	if b.held[key]+n > b.share {
		b.mu.Unlock()
		return nil, errBudget
	}
	b.held[key] += n
	b.mu.Unlock()
	unhold := func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.held[key] -= n; b.held[key] <= 0 {
			delete(b.held, key)
		}
	}
	if !b.budget.TryAcquire(n) {
		wait, cancel := context.WithTimeout(ctx, b.wait)
		defer cancel()
		if b.budget.Acquire(wait, n) != nil {
			unhold()
			return nil, errBudget
		}
	}
	return func() { b.budget.Release(n); unhold() }, nil
}

// stopReading ends the reading of a request's body refused as too large.
// net/http would otherwise read up to 256 KB more of it after the answer,
// looking for its end to keep the connection; with MaxBytesReader handed
// its own writer it closes the connection instead, and a read deadline now
// stops that read.
func stopReading(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now()) // an HTTP/2 stream, or a test's writer, may not support it
}
