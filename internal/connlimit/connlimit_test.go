package connlimit

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/tlstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testMaxHeaderBytes is the test servers' MaxHeaderBytes.
const testMaxHeaderBytes = 4 << 10

// server serves l on loopback; a request to /block waits until release is
// closed, every other request answers at once.
type server struct {
	addr    string
	l       *Limiter
	metrics *Metrics
	release chan struct{}
	blocked atomic.Int32 // requests waiting in /block
}

func start(t *testing.T, cfg Config, tlsCert *tls.Certificate) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PlainHTTP = tlsCert == nil
	s := &server{addr: ln.Addr().String(), metrics: NewMetrics(prometheus.NewRegistry()), release: make(chan struct{})}
	l := New(cfg, zap.NewNop(), s.metrics)
	s.l = l
	srv := &http.Server{ConnState: l.ConnState, MaxHeaderBytes: testMaxHeaderBytes, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			s.blocked.Add(1)
			<-s.release
		}
		io.WriteString(w, "ok")
	})}
	ln = l.Listener(ln)
	if tlsCert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*tlsCert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		// Shutdown waits for connections net/http is still closing (after
		// a 431 it lingers half a second), which Close leaves running.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	})
	return s
}

// get sends one request on c and reads its answer.
func get(t *testing.T, c net.Conn, path string) (*http.Response, error) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	return res, nil
}

// idle makes c a keep-alive connection between requests, and waits until
// the server has it so.
func (s *server) idle(t *testing.T, c net.Conn) {
	t.Helper()
	before := s.idleCount()
	if res, err := get(t, c, "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %v, %v, want 200", res, err)
	}
	poll.Eventually(t, "the connection idle", 5*time.Second, func() bool { return s.idleCount() > before })
}

func (s *server) idleCount() int {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	n := 0
	for _, cl := range s.l.clients {
		n += cl.idle.Len()
	}
	return n
}

// closed reports whether the server closed c, waiting up to a few seconds.
func closed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestClosesTheHeaderlessConnectionFirst: a client sends its headers at
// once, so a connection past its grace without them goes before an idle
// one, whose client may be about to reuse it.
func TestClosesTheHeaderlessConnectionFirst(t *testing.T) {
	s := start(t, Config{MaxPerClient: 2, NewGrace: time.Millisecond}, nil)
	silent := clitest.Dial(t, s.addr)
	kept := clitest.Dial(t, s.addr)
	s.idle(t, kept)
	time.Sleep(10 * time.Millisecond) // both past their grace
	third := clitest.Dial(t, s.addr)
	if res, err := get(t, third, "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET on a third connection = %v, %v, want 200", res, err)
	}
	if !closed(silent) {
		t.Error("the connection without headers is still open, want it closed to make room")
	}
	if res, err := get(t, kept, "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("GET on the idle connection = %v, %v, want 200: the headerless one goes first", res, err)
	}
	if got := testutil.ToFloat64(s.metrics.evicted.WithLabelValues(boundPerClient, "new")); got != 1 {
		t.Errorf("evicted{per_client,new} = %v, want 1", got)
	}
}

// TestClosesTheIdleConnectionWhenNoneIsHeaderless: idle ones make room too.
func TestClosesTheIdleConnectionWhenNoneIsHeaderless(t *testing.T) {
	s := start(t, Config{MaxPerClient: 1, NewGrace: time.Millisecond}, nil)
	first := clitest.Dial(t, s.addr)
	s.idle(t, first)
	time.Sleep(10 * time.Millisecond)
	if res, err := get(t, clitest.Dial(t, s.addr), "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET on a second connection = %v, %v, want 200", res, err)
	}
	if !closed(first) {
		t.Error("the idle connection is still open, want it closed to make room")
	}
	if got := testutil.ToFloat64(s.metrics.evicted.WithLabelValues(boundPerClient, "idle")); got != 1 {
		t.Errorf("evicted{per_client,idle} = %v, want 1", got)
	}
}

// TestGlobalBoundClosesTheBiggestClientsConnection: at the global bound the
// client holding the most connections makes room, not the one whose
// connection is oldest.
func TestGlobalBoundClosesTheBiggestClientsConnection(t *testing.T) {
	s := start(t, Config{MaxConns: 3, NewGrace: 20 * time.Millisecond}, nil)
	from := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Skipf("dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	small := from("127.0.0.3")
	time.Sleep(5 * time.Millisecond)
	big := []net.Conn{from("127.0.0.2"), from("127.0.0.2")}
	time.Sleep(50 * time.Millisecond) // all past their grace
	if res, err := get(t, from("127.0.0.3"), "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET at the global bound = %v, %v, want 200", res, err)
	}
	if !closed(big[0]) {
		t.Error("the biggest client's oldest connection is still open, want it closed to make room")
	}
	small.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := small.Read(make([]byte, 1)); err == nil || !isTimeout(err) {
		t.Errorf("the smaller client's older connection read %v, want it kept open", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestClosesTheOldestHeaderlessConnection(t *testing.T) {
	s := start(t, Config{MaxPerClient: 3, NewGrace: 20 * time.Millisecond}, nil)
	slow := []net.Conn{clitest.Dial(t, s.addr), clitest.Dial(t, s.addr), clitest.Dial(t, s.addr)}
	for _, c := range slow {
		io.WriteString(c, "POST /webhooks/storylane HTTP/1.1\r\nHost: x\r\n") // never finished
	}
	time.Sleep(50 * time.Millisecond)
	for i := range 3 {
		// Served and held serving, so the next one must close another.
		io.WriteString(clitest.Dial(t, s.addr), "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		poll.Eventually(t, "a request past the bound served", 5*time.Second, func() bool { return s.blocked.Load() == int32(i+1) })
		if !closed(slow[i]) {
			t.Errorf("slow connection %d still open, want the oldest closed first", i)
		}
	}
	if got := testutil.ToFloat64(s.metrics.evicted.WithLabelValues(boundPerClient, "new")); got != 3 {
		t.Errorf("evicted{per_client,new} = %v, want 3", got)
	}
}

// TestSparesConnectionsInTheirGrace: a burst of connections from one
// sender does not close its own connections before they could send, nor a
// keep-alive connection just idle, which its client may be reusing.
func TestSparesConnectionsInTheirGrace(t *testing.T) {
	s := start(t, Config{MaxPerClient: 2, NewGrace: time.Hour}, nil)
	a, b := clitest.Dial(t, s.addr), clitest.Dial(t, s.addr)
	s.idle(t, a)
	res, err := get(t, clitest.Dial(t, s.addr), "/")
	if err != nil {
		t.Fatalf("GET past the bound: %v, want a 503", err)
	}
	assertBusy(t, res)
	for _, c := range []net.Conn{a, b} {
		if res, err := get(t, c, "/"); err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("GET on a connection in its grace = %v, %v, want 200", res, err)
		}
	}
	if got := testutil.ToFloat64(s.metrics.refused.WithLabelValues(reasonClientBusy)); got != 1 {
		t.Errorf("refused{client_busy} = %v, want 1", got)
	}
}

func assertBusy(t *testing.T, res *http.Response) {
	t.Helper()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" ||
		res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("refusal = %d %v, want 503 with Retry-After 1, JSON", res.StatusCode, res.Header)
	}
}

func TestRefusesOnlyWhenEveryConnectionServes(t *testing.T) {
	s := start(t, Config{MaxConns: 2, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxPerClient: 1}, nil)
	busy := []net.Conn{clitest.Dial(t, s.addr), clitest.Dial(t, s.addr)} // MaxPerClient exempts loopback here
	for _, c := range busy {
		io.WriteString(c, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	poll.Eventually(t, "two serving", 5*time.Second, func() bool { return s.blocked.Load() == 2 })
	c := clitest.Dial(t, s.addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /webhooks/storylane HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n"+strings.Repeat("x", 4096))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a connection past a bound where all serve: %v, want a 503 to read, not a reset", err)
	}
	body, _ := io.ReadAll(res.Body)
	assertBusy(t, res)
	if !strings.HasPrefix(string(body), `{"error":`) || !strings.HasSuffix(string(body), "}\n") {
		t.Errorf("refusal body = %q, want the whole JSON error", body)
	}
	if got := testutil.ToFloat64(s.metrics.refused.WithLabelValues(reasonAllBusy)); got != 1 {
		t.Errorf("refused{all_busy} = %v, want 1", got)
	}
	close(s.release)
	for _, c := range busy {
		if res, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("a serving connection = %v, %v, want its 200: it is never closed for room", res, err)
		}
	}
	if res, err := get(t, clitest.Dial(t, s.addr), "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("GET once the others are idle = %v, %v, want 200", res, err)
	}
}

func TestClosesPeersOutsideTheAllowList(t *testing.T) {
	s := start(t, Config{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, nil)
	if !closed(clitest.Dial(t, s.addr)) {
		t.Error("a peer outside the allow-list was kept open")
	}
	if got := testutil.ToFloat64(s.metrics.refused.WithLabelValues(reasonNotAllowed)); got != 1 {
		t.Errorf("refused{not_allowed} = %v, want 1", got)
	}
}

// TestTracksTLSConnections: ConnState sees the *tls.Conn, not the counted
// connection; an idle TLS connection is still found and closed for room.
func TestTracksTLSConnections(t *testing.T) {
	ca := tlstest.NewCA(t)
	cert := ca.Issue(t, false).TLS
	s := start(t, Config{MaxPerClient: 1, NewGrace: time.Millisecond}, &cert)
	dialTLS := func() *tls.Conn {
		c, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	first := dialTLS()
	s.idle(t, first)
	time.Sleep(10 * time.Millisecond) // idle past its grace
	if res, err := get(t, dialTLS(), "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET on a second TLS connection = %v, %v, want 200", res, err)
	}
	if !closed(first) {
		t.Error("the idle TLS connection is still open, want it closed to make room")
	}
}

// TestWaitsAtTheGlobalBound: with every connection young, a new one is not
// refused but waits, in the backlog, until the oldest is past its grace.
func TestWaitsAtTheGlobalBound(t *testing.T) {
	s := start(t, Config{MaxConns: 2, NewGrace: 200 * time.Millisecond}, nil)
	first, second := clitest.Dial(t, s.addr), clitest.Dial(t, s.addr)
	poll.Eventually(t, "two open", 5*time.Second, func() bool { return testutil.ToFloat64(s.metrics.open) == 2 })
	if res, err := get(t, clitest.Dial(t, s.addr), "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET at the global bound = %v, %v, want 200 once room is made", res, err)
	}
	if !closed(first) {
		t.Error("the oldest silent connection is still open, want it closed to make room")
	}
	if res, err := get(t, second, "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("GET on the younger connection = %v, %v, want 200", res, err)
	}
	if got := testutil.ToFloat64(s.metrics.refused.WithLabelValues(reasonAllBusy)); got != 0 {
		t.Errorf("refused{all_busy} = %v, want 0", got)
	}
}

// TestHeadersTooLargeInJSON: net/http's own 431, plain text, reaches a
// plain-HTTP client as JSON like every other answer; a handler's answers
// and the 431 under TLS pass untouched.
func TestHeadersTooLargeInJSON(t *testing.T) {
	t.Parallel()
	s := start(t, Config{}, nil)
	c := clitest.Dial(t, s.addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	bomb := "GET / HTTP/1.1\r\nHost: test\r\nX-Bomb: " + strings.Repeat("b", 2*testMaxHeaderBytes) + "\r\n\r\n"
	if _, err := io.WriteString(c, bomb); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("answer to headers over MaxHeaderBytes: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	io.Copy(io.Discard, br) // until net/http closes it, half a second later
	var answer struct{ Error string }
	if err != nil || res.StatusCode != http.StatusRequestHeaderFieldsTooLarge || res.Header.Get("Content-Type") != "application/json" ||
		!res.Close || json.Unmarshal(body, &answer) != nil || answer.Error == "" {
		t.Errorf("headers over MaxHeaderBytes = %d %q %q (close %t, %v), want 431 in JSON with Connection: close",
			res.StatusCode, res.Header.Get("Content-Type"), body, res.Close, err)
	}
	if res, err := get(t, clitest.Dial(t, s.addr), "/"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("GET / after a 431 = %v, %v, want 200", res, err)
	}

	ca := tlstest.NewCA(t)
	cert := ca.Issue(t, false).TLS
	ts := start(t, Config{}, &cert)
	tc := tls.Client(clitest.Dial(t, ts.addr), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc, bomb); err != nil {
		t.Fatal(err)
	}
	tr := bufio.NewReader(tc)
	if res, err := http.ReadResponse(tr, nil); err != nil || res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers over MaxHeaderBytes under TLS = %v, %v, want net/http's 431", res, err)
	}
	io.Copy(io.Discard, tr)
}
