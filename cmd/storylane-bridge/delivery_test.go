package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// These tests hold the bridge, with its default flags, to "a legitimate
// signed delivery is never refused while the machine has capacity".

// startDefault runs the bridge binary with default flags on loopback and
// returns its URL. A process, built as it ships: the race detector would
// slow its embedded broker, and so what a burst can be served with, many
// times over.
func startDefault(t *testing.T, args ...string) (string, *clitest.Process) {
	t.Helper()
	p := clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET=" + testSecret},
		append([]string{"--listen", "127.0.0.1:0", "--nats-listen", "none", "--data-dir", t.TempDir()}, args...)...)
	return "http://" + p.Logs.Wait(t, "listening")["addr"].(string), p
}

// burst sends n signed webhooks at once, each on its own connection and
// each once, with X-Forwarded-For naming a client of its own when
// forwarded, and returns the answers by status and the sequences stored.
func burst(t *testing.T, url string, n int, forwarded bool) (map[int]int, map[float64]bool) {
	t.Helper()
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	var mu sync.Mutex
	statuses, seqs := map[int]int{}, map[float64]bool{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			body := fmt.Appendf(nil, `{"id":"burst-%d","lead":{"email":"lead%d@example.org"}}`, i, i)
			req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
			req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(testSecret)))
			if forwarded {
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i%250+1))
			}
			<-start
			status, seq := send(client, req)
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status == http.StatusOK {
				seqs[seq] = true
			}
		})
	}
	close(start)
	wg.Wait()
	return statuses, seqs
}

// send returns the request's status (0 when it got none) and the sequence
// its answer names.
func send(client *http.Client, req *http.Request) (int, float64) {
	res, err := client.Do(req)
	if err != nil {
		return 0, 0
	}
	defer res.Body.Close()
	var a struct {
		Seq       float64 `json:"seq"`
		Duplicate bool    `json:"duplicate"`
	}
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil || a.Duplicate {
		return -res.StatusCode, 0
	}
	return res.StatusCode, a.Seq
}

func assertAllStored(t *testing.T, what string, n int, statuses map[int]int, seqs map[float64]bool) {
	t.Helper()
	if statuses[http.StatusOK] != n || len(seqs) != n {
		t.Errorf("%s: answers by status %v (0: no answer), %d distinct sequences; want all %d 200, each stored once",
			what, statuses, len(seqs), n)
	}
}

func TestBurstFromOneAddressIsAllStored(t *testing.T) {
	t.Parallel()
	url, _ := startDefault(t)
	statuses, seqs := burst(t, url, 500, false)
	assertAllStored(t, "500 webhooks at once from one address, default flags", 500, statuses, seqs)
}

// TestSlowAndIdleConnectionsDoNotHoldUpAWebhook: idle keep-alive and
// slowloris connections from the sender's own address do not delay its
// webhook, with the default bounds and with a tight one that they fill,
// where both kinds are closed to make room.
func TestSlowAndIdleConnectionsDoNotHoldUpAWebhook(t *testing.T) {
	t.Parallel()
	for _, tight := range []bool{false, true} {
		t.Run(fmt.Sprintf("tight=%v", tight), func(t *testing.T) {
			args := []string{"--admin-listen", "127.0.0.1:0"}
			if tight {
				args = append(args, "--max-connections-per-client", "128")
			}
			// The binary as it ships, as for the bursts: the race detector
			// alone took the webhook past 2 s once, on a busy machine.
			url, b := startDefault(t, args...)
			metrics := "http://" + b.Logs.Wait(t, "admin listening")["addr"].(string) + "/metrics"
			idle := &http.Transport{MaxIdleConnsPerHost: 64}
			defer idle.CloseIdleConnections()
			var ok atomic.Int32
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					if res, err := (&http.Client{Transport: idle}).Get(url + "/healthz"); err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode == http.StatusOK {
							ok.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if ok.Load() != 64 {
				t.Fatalf("%d of 64 keep-alive requests answered 200, want all", ok.Load())
			}
			time.Sleep(1100 * time.Millisecond) // idle past their grace
			for range 300 {
				io.WriteString(clitest.Dial(t, url[len("http://"):]), "POST /webhooks/storylane HTTP/1.1\r\nHost: x\r\n") // never finished
			}
			time.Sleep(1100 * time.Millisecond) // the slow ones past their grace
			start := time.Now()
			transport := &http.Transport{}
			defer transport.CloseIdleConnections()
			body := []byte(`{"id":"after-slowloris"}`)
			req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
			req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(testSecret)))
			status, _ := send(&http.Client{Transport: transport, Timeout: 10 * time.Second}, req)
			if took := time.Since(start); status != http.StatusOK || took > 2*time.Second {
				t.Errorf("a webhook among 300 slow and 64 idle connections from its address = %d after %s, want 200 within 2s", status, took)
			}
			if !tight {
				return
			}
			_, m := get(t, metrics)
			for _, state := range []string{"idle", "new"} {
				if !regexp.MustCompile(`storylane_bridge_connections_evicted_total\{bound="per_client",state="` + state + `"\} [1-9]`).MatchString(m) {
					t.Errorf("no %s connection was closed to make room, want some", state)
				}
			}
		})
	}
}

// TestBurstThroughAProxyIsAllStored puts a reverse proxy on loopback in
// front of the bridge, as a load balancer is: the proxy is the only peer the
// bridge sees, whether it trusts it or not.
func TestBurstThroughAProxyIsAllStored(t *testing.T) {
	t.Parallel()
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprintf("trusted=%v", trusted), func(t *testing.T) {
			var args []string
			if trusted {
				args = []string{"--trusted-proxies", "127.0.0.1"}
			}
			bridgeURL, _ := startDefault(t, args...)
			backend, _ := url.Parse(bridgeURL)
			proxy := httputil.NewSingleHostReverseProxy(backend)
			transport := &http.Transport{MaxIdleConnsPerHost: 320} // ingress-nginx's pool per worker
			defer transport.CloseIdleConnections()
			proxy.Transport = transport
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: proxy}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			statuses, seqs := burst(t, "http://"+ln.Addr().String(), 500, true)
			assertAllStored(t, "500 webhooks from 250 clients through a proxy", 500, statuses, seqs)
		})
	}
}
