package ingress

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// The bounds that may shed a webhook, named as their flags are, for the log
// line and the metric of a shed webhook.
const (
	boundConcurrent    = "max-concurrent"
	boundPerClient     = "max-concurrent-per-client"
	boundQueued        = "max-queued"
	boundBufferedBytes = "max-buffered-bytes"
	boundRateLimit     = "rate-limit"
	boundAllowCIDRs    = "allow-cidrs"
)

// admission bounds the webhooks handled at once in two places: per client
// from the moment a request arrives (so one client's slow bodies cannot
// hold more than its share), and in all only once a webhook's signature is
// verified (so requests nobody signed never hold the slots Storylane's
// need). A webhook over a bound waits for a slot, first come first served,
// for a bounded time in a bounded queue, before it is shed: a burst the
// machine can absorb is absorbed, since Storylane does not retry.
type admission struct {
	global    *semaphore.Weighted // nil for no bound
	perClient int64               // 0 for no bound
	maxQueued int64
	wait      time.Duration
	queued    atomic.Int64

	mu      sync.Mutex
	clients map[netip.Addr]*clientSlots
}

// clientSlots are one client's slots, kept while a request of its holds or
// waits for one.
type clientSlots struct {
	sem     *semaphore.Weighted
	refs    int
	waiting int64
}

func newAdmission(maxConcurrent, perClient, maxQueued int, wait time.Duration) *admission {
	a := &admission{perClient: int64(perClient), maxQueued: int64(maxQueued), wait: wait, clients: map[netip.Addr]*clientSlots{}}
	if maxConcurrent > 0 {
		a.global = semaphore.NewWeighted(int64(maxConcurrent))
	}
	return a
}

// enterClient takes one of the client key's slots, waiting when there is
// none. It returns the function that gives the slot back, or the bound that
// shed the request; neither when ctx ended first (the client left).
func (a *admission) enterClient(ctx context.Context, key netip.Addr) (func(), string) {
	if a.perClient <= 0 {
		return func() {}, ""
	}
	c := a.client(key)
	leave := func() {
		c.sem.Release(1)
		a.forget(key, c)
	}
	if c.sem.TryAcquire(1) {
		return leave, ""
	}
	// One client may fill half the queue, no more: filling it all would
	// shed everyone else's webhooks at once.
	if !a.queue(&c.waiting, max(a.maxQueued/2, 1)) {
		a.forget(key, c)
		return nil, boundPerClient
	}
	defer a.dequeue(&c.waiting)
	if ok, bound := a.acquire(ctx, c.sem, boundPerClient); !ok {
		a.forget(key, c)
		return nil, bound
	}
	return leave, ""
}

// enterAll takes one of the slots of every client, as enterClient does.
func (a *admission) enterAll(ctx context.Context) (func(), string) {
	if a.global == nil {
		return func() {}, ""
	}
	leave := func() { a.global.Release(1) }
	if a.global.TryAcquire(1) {
		return leave, ""
	}
	if !a.queue(nil, 0) {
		return nil, boundQueued
	}
	defer a.dequeue(nil)
	if ok, bound := a.acquire(ctx, a.global, boundConcurrent); !ok {
		return nil, bound
	}
	return leave, ""
}

// queue counts a waiter, in all and, when waiting is given, for its client
// (guarded by a.mu), unless a bound is reached.
func (a *admission) queue(waiting *int64, max int64) bool {
	if waiting != nil {
		a.mu.Lock()
		full := *waiting >= max
		if !full {
			*waiting++
		}
		a.mu.Unlock()
		if full {
			return false
		}
	}
	if a.queued.Add(1) > a.maxQueued {
		a.dequeue(waiting)
		return false
	}
	return true
}

func (a *admission) dequeue(waiting *int64) {
	a.queued.Add(-1)
	if waiting != nil {
		a.mu.Lock()
		*waiting--
		a.mu.Unlock()
	}
}

// acquire waits up to a.wait for a slot of sem. Without one it names bound,
// or nothing when ctx ended first: the client left, and was not shed.
func (a *admission) acquire(ctx context.Context, sem *semaphore.Weighted, bound string) (bool, string) {
	wait, cancel := context.WithTimeout(ctx, a.wait)
	defer cancel()
	if sem.Acquire(wait, 1) == nil {
		return true, ""
	}
	if ctx.Err() != nil {
		return false, ""
	}
	return false, bound
}

func (a *admission) client(key netip.Addr) *clientSlots {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clients[key]
	if c == nil {
		c = &clientSlots{sem: semaphore.NewWeighted(a.perClient)}
		a.clients[key] = c
	}
	c.refs++
	return c
}

func (a *admission) forget(key netip.Addr, c *clientSlots) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.refs--; c.refs == 0 {
		delete(a.clients, key)
	}
}
