package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// frozenPath is a client connected to one server through two proxies, of
// which the one it uses can be frozen: the other is where it must go.
type frozenPath struct {
	nc      *nats.Conn
	proxies []*natstest.Proxy
}

func connectThroughProxies(t *testing.T, cfg broker.ConnConfig) *frozenPath {
	t.Helper()
	srv := natstest.Start(t)
	f := &frozenPath{proxies: []*natstest.Proxy{natstest.StartProxy(t, strings.TrimPrefix(srv.URL(), "nats://")),
		natstest.StartProxy(t, strings.TrimPrefix(srv.URL(), "nats://"))}}
	cfg.URL = f.proxies[0].URL() + "," + f.proxies[1].URL()
	cfg.Name = t.Name()
	cfg.ReconnectWait = 50 * time.Millisecond
	nc, err := broker.Connect(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	// Runs before nc.Close: a write blocked on a frozen proxy holds the
	// connection's lock, which Close needs.
	for _, p := range f.proxies {
		t.Cleanup(p.Close)
	}
	f.nc = nc
	poll.Eventually(t, "a connection", 10*time.Second, func() bool { return nc.IsConnected() })
	return f
}

// freeze freezes the proxy the client is connected through and returns
// its URL.
func (f *frozenPath) freeze(t *testing.T) string {
	t.Helper()
	url := f.nc.ConnectedUrl()
	for _, p := range f.proxies {
		if p.URL() == url {
			p.Freeze()
			return url
		}
	}
	t.Fatalf("connected to %s, through neither proxy", url)
	return ""
}

// TestSilentServerIsLeft freezes the path to the server the client uses:
// no reset comes, and only the client's pings, or a write that cannot
// finish, show that the server is gone. The client must reconnect through
// the other path within the bound its settings promise, not after nats.go's
// 4 to 6 minutes.
func TestSilentServerIsLeft(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    broker.ConnConfig
		writes bool          // publish large messages while frozen
		within time.Duration // promised: pings, or the write timeout
	}{
		{"idle, found by pings", broker.ConnConfig{PingInterval: 200 * time.Millisecond, MaxPingsOut: 2}, false, 600 * time.Millisecond},
		// Pings alone would take 100 s here. A publisher's own write that
		// times out with nothing written leaves the connection up, so
		// the next ping's write, timing out in the flusher, may be what
		// reconnects: up to an interval and a write timeout.
		{"busy, found by the write timeout", broker.ConnConfig{PingInterval: time.Second, MaxPingsOut: 100, WriteTimeout: 300 * time.Millisecond}, true, 1300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := connectThroughProxies(t, tt.cfg)
			frozen := f.freeze(t)
			start := time.Now()
			stop := make(chan struct{})
			done := make(chan struct{})
			defer func() { close(stop); <-done }()
			go func() {
				defer close(done)
				body := make([]byte, 256<<10)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if !tt.writes {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					// Errors are expected: the socket is blocked, then
					// the connection is reconnecting.
					_ = f.nc.Publish("load.x", body)
				}
			}()
			poll.Eventually(t, "reconnection through the other proxy", 10*time.Second, func() bool {
				return f.nc.IsConnected() && f.nc.ConnectedUrl() != frozen
			})
			took := time.Since(start)
			// A second and a half of slack: reconnecting, and a loaded
			// machine's timers.
			if took > tt.within+1500*time.Millisecond {
				t.Errorf("left the silent server after %v, want within %v", took, tt.within)
			}
			t.Logf("left the silent server after %v", took)
		})
	}
}
