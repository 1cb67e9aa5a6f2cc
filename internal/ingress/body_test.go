package ingress

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// chunks hides a reader's length, as a chunked body does.
type chunks struct{ r io.Reader }

func (c chunks) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), 1000)]) }

var (
	clientA = netip.MustParseAddr("192.0.2.1")
	clientB = netip.MustParseAddr("192.0.2.2")
)

func TestBodiesRead(t *testing.T) {
	t.Parallel()
	const limit = 100 << 10
	for _, tc := range []struct {
		name    string
		n       int
		chunked bool
		held    int64 // reserved from the budget while the body is in use
	}{
		{"empty", 0, false, 0},
		{"Storylane-sized", 2000, false, 0},
		{"just under a head", headSize - 1, false, 0},
		{"a head exactly", headSize, false, headSize + 1},
		{"announced, large", 50 << 10, false, 50<<10 + 1},
		{"chunked, large", 50 << 10, true, limit + 1},
		{"the limit, chunked", limit, true, limit + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBodies(1<<20, limit, time.Second)
			want := bytes.Repeat([]byte("x"), tc.n)
			var r io.Reader = bytes.NewReader(want)
			size := int64(tc.n)
			if tc.chunked {
				r, size = chunks{r}, -1
			}
			got, release, err := b.read(context.Background(), clientA, r, size)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read(%d bytes) = %d bytes, %v, want them all", tc.n, len(got), err)
			}
			if held := 1<<20 - available(b); held != tc.held {
				t.Errorf("read(%d bytes) holds %d bytes of the budget, want %d", tc.n, held, tc.held)
			}
			if tc.n > 0 && !tc.chunked && cap(got) > tc.n+1 {
				t.Errorf("read(%d announced bytes) has a buffer of %d, want it sized once", tc.n, cap(got))
			}
			release()
			if held := 1<<20 - available(b); held != 0 || len(b.held) != 0 {
				t.Errorf("after release %d bytes are held (%d clients), want 0", held, len(b.held))
			}
		})
	}
}

// cutShort is a body that ends before its announced length, as net/http
// reports it.
type cutShort struct{ r io.Reader }

func (c cutShort) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func TestBodiesReadCutShort(t *testing.T) {
	t.Parallel()
	b := newBodies(1<<20, 100<<10, time.Second)
	for _, n := range []int{5, 20 << 10} {
		_, release, err := b.read(context.Background(), clientA, cutShort{strings.NewReader(strings.Repeat("x", n))}, 50<<10)
		release()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("read(a body of %d bytes cut short) = %v, want %v", n, err, io.ErrUnexpectedEOF)
		}
	}
}

// available is the budget not held, measured by taking it all.
func available(b *bodies) int64 {
	lo, hi := int64(0), int64(1<<30)
	for lo < hi { // the largest n that TryAcquire grants
		mid := (lo + hi + 1) / 2
		if b.budget.TryAcquire(mid) {
			b.budget.Release(mid)
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// TestBodiesWaitForTheBudget: a large body waits for room, gets it when
// another gives it back, and is refused when none comes in time; a small
// body never waits.
func TestBodiesWaitForTheBudget(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	b := newBodies(limit+1, limit, 100*time.Millisecond)
	big := strings.Repeat("x", limit)
	_, release, err := b.read(context.Background(), clientA, strings.NewReader(big), limit)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.read(context.Background(), clientB, strings.NewReader(big), limit); !errors.Is(err, errBudget) {
		t.Errorf("read with the budget taken = %v, want %v", err, errBudget)
	}
	if got, _, err := b.read(context.Background(), clientB, strings.NewReader("{}"), 2); err != nil || string(got) != "{}" {
		t.Errorf("read of a small body with the budget taken = %q, %v, want it read", got, err)
	}
	b.wait = 5 * time.Second
	done := make(chan error)
	go func() {
		_, rel, err := b.read(context.Background(), clientB, strings.NewReader(big), limit)
		rel()
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); len(heldBy(b)) < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // until the second client waits
	}
	release()
	if err := <-done; err != nil {
		t.Errorf("read waiting for room given back = %v, want it read", err)
	}
}

func heldBy(b *bodies) map[netip.Addr]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.held)
}

// TestBodiesKeepAClientToItsShare: a client that announces large bodies and
// holds them cannot take the whole budget from the others.
func TestBodiesKeepAClientToItsShare(t *testing.T) {
	t.Parallel()
	const limit = 16 << 10
	b := newBodies(8*(2*limit+2), limit, time.Second) // a share of two bodies
	body := strings.Repeat("x", limit)
	var releases []func()
	for i := range 2 {
		_, release, err := b.read(context.Background(), clientA, strings.NewReader(body), limit)
		if err != nil {
			t.Fatalf("read %d within the client's share = %v", i, err)
		}
		releases = append(releases, release)
	}
	if _, _, err := b.read(context.Background(), clientA, strings.NewReader(body), limit); !errors.Is(err, errBudget) {
		t.Errorf("read past the client's share = %v, want %v at once", err, errBudget)
	}
	_, release, err := b.read(context.Background(), clientB, strings.NewReader(body), limit)
	if err != nil {
		t.Errorf("read of another client's body = %v, want it read", err)
	}
	release()
	for _, r := range releases {
		r()
	}
}
