package ingress

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"no proxy, header ignored", "203.0.113.7:5555", "198.51.100.1", nil, "203.0.113.7"},
		{"untrusted peer, header ignored", "203.0.113.7:5555", "198.51.100.1", proxies, "203.0.113.7"},
		{"trusted proxy", "10.1.2.3:5555", "198.51.100.1", proxies, "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:5555", "198.51.100.1, 10.9.9.9", proxies, "198.51.100.1"},
		{"spoofed left part", "10.1.2.3:5555", "1.1.1.1, 198.51.100.1", proxies, "198.51.100.1"},
		{"garbage in the chain", "10.1.2.3:5555", "nonsense", proxies, "10.1.2.3"},
		{"all hops trusted", "10.1.2.3:5555", "10.4.4.4", proxies, "10.1.2.3"},
		{"ipv6", "[fd00::1]:5555", "2001:db8::5", proxies, "2001:db8::5"},
		{"ipv4-mapped", "[::ffff:203.0.113.7]:1", "", nil, "203.0.113.7"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/webhooks/storylane", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := clientIP(r, tt.trusted); got.String() != tt.want {
			t.Errorf("clientIP(%s) = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestLimitersPerClient(t *testing.T) {
	t.Parallel()
	l := newLimiters(1, 2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2 {
		if ok, _ := l.allow(a, now); !ok {
			t.Fatalf("allow(a) #%d within the burst = false", i+1)
		}
	}
	ok, wait := l.allow(a, now)
	if ok || wait <= 0 || wait > time.Second {
		t.Errorf("allow(a) beyond the burst = %v, %v, want refused for up to a second", ok, wait)
	}
	if ok, _ := l.allow(b, now); !ok {
		t.Error("allow(b) = false: one client's flood limits another")
	}
	if ok, _ := l.allow(a, now.Add(time.Second)); !ok {
		t.Error("allow(a) a second later = false, want a new token")
	}
	// Idle clients are forgotten.
	l.allow(b, now.Add(3*time.Minute))
	l.mu.Lock()
	n := len(l.clients)
	l.mu.Unlock()
	if n != 1 {
		t.Errorf("%d clients remembered after a's idle minute, want 1", n)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "1", 200 * time.Millisecond: "1", 1500 * time.Millisecond: "2", 10 * time.Second: "10"} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	t.Parallel()
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	if ClientKey(a) != ClientKey(b) {
		t.Errorf("ClientKey(%s) = %s, ClientKey(%s) = %s, want one /64", a, ClientKey(a), b, ClientKey(b))
	}
	if c := netip.MustParseAddr("2001:db8:1:3::1"); ClientKey(c) == ClientKey(a) {
		t.Errorf("ClientKey(%s) = ClientKey(%s), want different /64s apart", c, a)
	}
	if v4 := netip.MustParseAddr("192.0.2.1"); ClientKey(v4) != v4 {
		t.Errorf("ClientKey(%s) = %s, want the address itself", v4, ClientKey(v4))
	}
}

func TestForwardedForWithPorts(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for xff, want := range map[string]string{"198.51.100.1:5678": "198.51.100.1", "[2001:db8::1]:443": "2001:db8::1"} {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = "10.0.0.1:1"
		r.Header.Set("X-Forwarded-For", xff)
		if got := clientIP(r, proxies); got.String() != want {
			t.Errorf("clientIP(X-Forwarded-For %s) = %s, want %s", xff, got, want)
		}
	}
}

func TestLimitersStayBounded(t *testing.T) {
	t.Parallel()
	l := newLimiters(1, 1)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxClients + 10 {
		l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	l.mu.Lock()
	n := len(l.clients)
	l.mu.Unlock()
	if n > maxClients {
		t.Errorf("%d clients remembered, want at most %d", n, maxClients)
	}
}

func TestAdmissionPerClient(t *testing.T) {
	t.Parallel()
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	ctx := context.Background()
	adm := newAdmission(0, 2, 4, 20*time.Millisecond) // a client may queue 2
	var leaves []func()
	for i := range 2 {
		leave, bound := adm.enterClient(ctx, a)
		if leave == nil {
			t.Fatalf("enterClient(a) %d = shed by %q, want a slot", i, bound)
		}
		leaves = append(leaves, leave)
	}
	if leave, bound := adm.enterClient(ctx, a); leave != nil || bound != boundPerClient {
		t.Errorf("enterClient(a) past its share = %q, want shed by %s", bound, boundPerClient)
	}
	leave, bound := adm.enterClient(ctx, b)
	if leave == nil {
		t.Fatalf("enterClient(b) while a holds its share = shed by %q, want a slot", bound)
	}
	leave()
	// Waiters: half the queue, then shed at once.
	adm.wait = 5 * time.Second
	got := make(chan func(), 2)
	for range 2 {
		go func() { leave, _ := adm.enterClient(ctx, a); got <- leave }()
	}
	poll.Eventually(t, "two waiters", 5*time.Second, func() bool { return adm.queued.Load() == 2 })
	if leave, bound := adm.enterClient(ctx, a); leave != nil || bound != boundPerClient {
		t.Errorf("enterClient(a) with its share of the queue full = %q, want shed by %s", bound, boundPerClient)
	}
	for _, leave := range leaves {
		leave()
		if next := <-got; next == nil {
			t.Error("a waiter was shed although a slot was given back")
		} else {
			next()
		}
	}
	// A waiter whose client leaves is not shed by any bound.
	gone, cancel := context.WithCancel(ctx)
	held1, _ := adm.enterClient(ctx, a)
	held2, _ := adm.enterClient(ctx, a)
	go func() { leave, bound := adm.enterClient(gone, a); got <- leave; _ = bound }()
	poll.Eventually(t, "a waiter", 5*time.Second, func() bool { return adm.queued.Load() == 1 })
	cancel()
	if leave := <-got; leave != nil {
		t.Error("a waiter whose client left got a slot")
	}
	held1()
	held2()
	adm.mu.Lock()
	defer adm.mu.Unlock()
	if len(adm.clients) != 0 {
		t.Errorf("%d clients remembered after every slot was given back, want 0", len(adm.clients))
	}
}

func TestAdmissionInAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	adm := newAdmission(1, 0, 1, 20*time.Millisecond)
	leave, _ := adm.enterAll(ctx)
	if l, bound := adm.enterAll(ctx); l != nil || bound != boundConcurrent {
		t.Errorf("enterAll with the only slot taken = %q, want shed by %s after waiting", bound, boundConcurrent)
	}
	adm.wait = 5 * time.Second
	got := make(chan func())
	go func() { l, _ := adm.enterAll(ctx); got <- l }()
	poll.Eventually(t, "a waiter", 5*time.Second, func() bool { return adm.queued.Load() == 1 })
	if l, bound := adm.enterAll(ctx); l != nil || bound != boundQueued {
		t.Errorf("enterAll with the queue full = %q, want shed by %s", bound, boundQueued)
	}
	leave()
	if l := <-got; l == nil {
		t.Error("the waiter was shed although the slot was given back")
	} else {
		l()
	}
}
