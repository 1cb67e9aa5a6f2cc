package e2e_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// gauge reads one metric's value from a Prometheus text exposition.
func gauge(t *testing.T, metricsURL, name string) float64 {
	t.Helper()
	res, err := http.Get(metricsURL)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// raiseFileLimit lets the test hold a thousand connections (and the bridge,
// which inherits it, accept them).
func raiseFileLimit(t *testing.T) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	if lim.Max < 4096 {
		t.Skipf("open files limited to %d; the test needs 4096", lim.Max)
	}
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// TestHostileClients attacks a real bridge on loopback (slowloris headers,
// trickled bodies, oversized chunked bodies, header bombs, a burst far
// above the rate limit, a thousand idle connections) while legitimate signed
// webhooks keep arriving, and reads the bridge's own metrics throughout:
// its goroutines and heap stay bounded, the legitimate webhooks get
// through, and it recovers fully afterwards.
func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("a thousand connections; skipped with -short")
	}
	raiseFileLimit(t)
	const maxConns = 512
	p := clitest.StartProcess(t, binary("storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET=" + secret, "BRIDGE_DATA_DIR=" + filepath.Join(t.TempDir(), "data")},
		"--listen", "127.0.0.1:0", "--nats-listen", "none", "--admin-listen", "127.0.0.1:0",
		"--read-header-timeout", "1s", "--read-timeout", "3s", "--idle-timeout", "2s", "--max-header-bytes", "8192",
		"--max-concurrent", "128", "--max-connections", fmt.Sprint(maxConns), "--rate-limit", "20", "--rate-burst", "20",
		"--trusted-proxies", "127.0.0.1")
	metrics := "http://" + p.Logs.Wait(t, "admin listening")["addr"].(string) + "/metrics"
	addr := p.Logs.Wait(t, "listening")["addr"].(string)
	url := "http://" + addr
	baseline := gauge(t, metrics, "go_goroutines")

	var maxGoroutines, maxHeap atomic.Int64
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if g := int64(gauge(t, metrics, "go_goroutines")); g > maxGoroutines.Load() {
				maxGoroutines.Store(g)
			}
			if h := int64(gauge(t, metrics, "go_memstats_heap_inuse_bytes")); h > maxHeap.Load() {
				maxHeap.Store(h)
			}
		}
	})

	var conns sync.Mutex
	var open []net.Conn
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil
		}
		conns.Lock()
		open = append(open, c)
		conns.Unlock()
		return c
	}
	var attacks sync.WaitGroup
	// A thousand connections that never send a byte.
	for range 1000 {
		attacks.Go(func() { dial() })
	}
	// Slowloris: headers one byte at a time, never finished. The server
	// must close them (a read sees EOF or a reset).
	var slowClosed atomic.Int32
	for range 100 {
		attacks.Go(func() {
			c := dial()
			if c == nil {
				return
			}
			c.Write([]byte("POST /webhooks/storylane HTTP/1.1\r\nHost: x\r\nX-Slow: "))
			for range 20 {
				time.Sleep(300 * time.Millisecond)
				if _, err := c.Write([]byte("a")); err != nil {
					slowClosed.Add(1)
					return
				}
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				slowClosed.Add(1)
			}
		})
	}
	// Trickled bodies: complete headers, a body one byte at a time.
	for range 50 {
		attacks.Go(func() {
			c := dial()
			if c == nil {
				return
			}
			fmt.Fprintf(c, "POST /webhooks/storylane HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nX-Storylane-Signature: %s\r\n\r\n", strings.Repeat("A", 43)+"=")
			for range 20 {
				time.Sleep(300 * time.Millisecond)
				if _, err := c.Write([]byte("{")); err != nil {
					return
				}
			}
		})
	}
	// Oversized chunked bodies and header bombs, on clients that expect an
	// answer.
	var tooLarge, headerTooLarge atomic.Int32
	client := &http.Client{Timeout: 20 * time.Second}
	for i := range 20 {
		attacks.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", io.LimitReader(zeros{}, 8<<20))
			req.ContentLength = -1 // chunked
			req.Header.Set("X-Storylane-Signature", strings.Repeat("A", 43)+"=")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", 1+i))
			if res, err := client.Do(req); err == nil {
				if res.StatusCode == http.StatusRequestEntityTooLarge {
					tooLarge.Add(1)
				}
				res.Body.Close()
			}
		})
		attacks.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", strings.NewReader("{}"))
			req.Header.Set("X-Bomb", strings.Repeat("b", 64<<10))
			if res, err := client.Do(req); err == nil {
				if res.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
					headerTooLarge.Add(1)
				}
				res.Body.Close()
			}
		})
	}
	// One client far above its rate limit.
	var limited, limitedWithRetry atomic.Int32
	for i := range 300 {
		attacks.Go(func() {
			body := natstest.SessionBody(90000+i, false)
			req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
			req.Header.Set("X-Storylane-Signature", storylane.Sign(body, []byte(secret)))
			req.Header.Set("X-Forwarded-For", "198.51.100.66")
			if res, err := client.Do(req); err == nil {
				if res.StatusCode == http.StatusTooManyRequests {
					limited.Add(1)
					if res.Header.Get("Retry-After") != "" {
						limitedWithRetry.Add(1)
					}
				}
				res.Body.Close()
			}
		})
	}
	// Meanwhile, Storylane: fifty webhooks from their own addresses, each
	// retried until it is answered 2xx.
	var legit, legitOK atomic.Int32
	var legitWG sync.WaitGroup
	for i := range 50 {
		legitWG.Go(func() {
			legit.Add(1)
			if deliver(client, url, natstest.SessionBody(80000+i, i%2 == 0), fmt.Sprintf("192.0.2.%d", i+1)) {
				legitOK.Add(1)
			}
		})
	}
	var legitDone, attackDone time.Time
	var ends sync.WaitGroup
	ends.Go(func() { legitWG.Wait(); legitDone = time.Now() })
	ends.Go(func() { attacks.Wait(); attackDone = time.Now() })
	ends.Wait()
	if !legitDone.Before(attackDone) {
		t.Errorf("the legitimate webhooks were stored %v after the attack ended, want during it", legitDone.Sub(attackDone))
	}
	close(stopSampling)
	sampling.Wait()

	if legitOK.Load() != legit.Load() {
		t.Errorf("%d of %d legitimate webhooks got through the attack, want all", legitOK.Load(), legit.Load())
	}
	if tooLarge.Load() != 20 || headerTooLarge.Load() != 20 {
		t.Errorf("oversized chunked bodies answered 413: %d of 20; header bombs answered 431: %d of 20", tooLarge.Load(), headerTooLarge.Load())
	}
	if limited.Load() < 200 || limitedWithRetry.Load() != limited.Load() {
		t.Errorf("a burst of 300 from one client: %d answered 429 (%d with Retry-After), want most of them, all with Retry-After", limited.Load(), limitedWithRetry.Load())
	}
	if slowClosed.Load() < 90 {
		t.Errorf("%d of 100 slowloris connections were closed by the server, want them cut at the header timeout", slowClosed.Load())
	}
	if g := maxGoroutines.Load(); g > maxConns+200 {
		t.Errorf("the bridge peaked at %d goroutines with --max-connections %d, want it bounded", g, maxConns)
	}
	if h := maxHeap.Load(); h > 64<<20 {
		t.Errorf("the bridge's heap peaked at %d MiB, want under 64 MiB", h>>20)
	}
	// A thousand silent connections against --max-connections 512: the
	// ones waiting longest for their headers made room.
	evicted := gauge(t, metrics, `storylane_bridge_connections_evicted_total{bound="global",state="new"}`)
	if evicted < 1 {
		t.Errorf("%v silent connections were closed to make room, want some", evicted)
	}
	t.Logf("under attack: peak %d goroutines (baseline %.0f), peak heap %.1f MiB; %d/%d legitimate webhooks stored; %d rate-limited; %.0f silent connections closed for room",
		maxGoroutines.Load(), baseline, float64(maxHeap.Load())/(1<<20), legitOK.Load(), legit.Load(), limited.Load(), evicted)

	// Afterwards: every attacking connection gone, the bridge back to its
	// baseline and serving.
	conns.Lock()
	for _, c := range open {
		c.Close()
	}
	conns.Unlock()
	client.CloseIdleConnections()
	poll.Eventually(t, "the bridge back near its baseline goroutines", 30*time.Second, func() bool {
		return gauge(t, metrics, "go_goroutines") <= baseline+20
	})
	if !deliver(client, url, natstest.SessionBody(70000, true), "192.0.2.200") {
		t.Error("a webhook after the attack was not stored")
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Exit(t); code != 0 {
		t.Errorf("the bridge exited %d after the attack, want 0", code)
	}
}

// deliver sends a signed webhook from client address from until it is
// answered 2xx, for at most 60 seconds.
func deliver(client *http.Client, url string, body []byte, from string) bool {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
		req.Header.Set("X-Storylane-Signature", storylane.Sign(body, []byte(secret)))
		req.Header.Set("X-Forwarded-For", from)
		res, err := client.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode/100 == 2 {
			return true
		}
	}
	return false
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
