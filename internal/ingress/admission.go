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
	boundConcurrent     = "max-concurrent"
	boundPerClient      = "max-concurrent-per-client"
	boundQueued         = "max-queued"
	boundBufferedBytes  = "max-buffered-bytes"
	boundRateLimit      = "rate-limit"
	boundAllowCIDRs     = "allow-cidrs"
	defaultQueueTimeout = 2 * time.Second
)

// admission bounds the webhooks handled at once, in all and per client. A
// webhook over a bound waits for a slot, first come first served, for a
// bounded time and in a bounded queue, before it is shed: a burst the
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
	sem  *semaphore.Weighted
	refs int
}

func newAdmission(maxConcurrent, perClient, maxQueued int, wait time.Duration) *admission {
	a := &admission{perClient: int64(perClient), maxQueued: int64(maxQueued), wait: wait, clients: map[netip.Addr]*clientSlots{}}
	if maxConcurrent > 0 {
		a.global = semaphore.NewWeighted(int64(maxConcurrent))
	}
	return a
}

// enter takes a slot for the client key, waiting when there is none. It
// returns the function that gives the slot back, or the bound that shed the
// request.
func (a *admission) enter(ctx context.Context, key netip.Addr) (func(), string) {
	var client *clientSlots
	if a.perClient > 0 {
		client = a.client(key)
	}
	leave := func() {
		if client != nil {
			client.sem.Release(1)
			a.forget(key, client)
		}
		if a.global != nil {
			a.global.Release(1)
		}
	}
	if a.try(client) {
		return leave, ""
	}
	if a.queued.Add(1) > a.maxQueued {
		a.queued.Add(-1)
		a.forget(key, client)
		return nil, boundQueued
	}
	defer a.queued.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, a.wait)
	defer cancel()
	if client != nil && client.sem.Acquire(ctx, 1) != nil {
		a.forget(key, client)
		return nil, boundPerClient
	}
	if a.global != nil && a.global.Acquire(ctx, 1) != nil {
		if client != nil {
			client.sem.Release(1)
			a.forget(key, client)
		}
		return nil, boundConcurrent
	}
	return leave, ""
}

// try takes both slots at once when both are free.
func (a *admission) try(client *clientSlots) bool {
	if client != nil && !client.sem.TryAcquire(1) {
		return false
	}
	if a.global != nil && !a.global.TryAcquire(1) {
		if client != nil {
			client.sem.Release(1)
		}
		return false
	}
	return true
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
	if c == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.refs--; c.refs == 0 {
		delete(a.clients, key)
	}
}
