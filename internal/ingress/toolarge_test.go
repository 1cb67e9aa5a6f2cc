package ingress_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	read *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestOversizedBodyReadOnlyToTheLimit: a body past --max-body, announced
// or not, gets 413 and its connection closed without net/http reading up
// to 256 KB more of it to keep the connection. (Before the fix,
// http.MaxBytesReader was handed the status-recording wrapper and could not
// tell net/http, and net/http read on after the answer: all 200 KiB were
// read.)
func TestOversizedBodyReadOnlyToTheLimit(t *testing.T) {
	t.Parallel()
	const size = 200 << 10
	chunk := fmt.Sprintf("%x\r\n%s\r\n", 1<<10, strings.Repeat("x", 1<<10))
	tests := []struct {
		name, header string
		body         func(io.Writer) error
	}{
		{"chunked", "Transfer-Encoding: chunked", func(w io.Writer) error {
			for range size >> 10 {
				if _, err := io.WriteString(w, chunk); err != nil {
					return err
				}
			}
			_, err := io.WriteString(w, "0\r\n\r\n")
			return err
		}},
		{"announced", fmt.Sprintf("Content-Length: %d", size), func(w io.Writer) error {
			_, err := io.WriteString(w, strings.Repeat("x", size))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			read, status, closed := postTooLarge(t, tt.header, tt.body)
			if status != http.StatusRequestEntityTooLarge || !closed {
				t.Errorf("POST of 200 KiB past a 1 KiB limit = %d, Connection: close %t; want 413 and the connection closed", status, closed)
			}
			if read > 64<<10 {
				t.Errorf("the server read %d bytes of a request past a 1 KiB limit, want at most the limit and a buffer", read)
			}
		})
	}
}

// postTooLarge posts a body past a 1 KiB limit and returns how many bytes
// the server read, the status and whether the connection is closed.
func postTooLarge(t *testing.T, header string, body func(io.Writer) error) (int64, int, bool) {
	t.Helper()
	_, srv := newUnserved(t, ingress.Config{MaxBody: 1 << 10}, ingress.Deps{})
	var read atomic.Int64
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener = countingListener{hs.Listener, &read}
	hs.Start()
	t.Cleanup(hs.Close)
	c, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		// Errors are expected once the server closes the connection.
		io.WriteString(c, "POST "+ingress.WebhookPath+" HTTP/1.1\r\nHost: bridge\r\n"+header+"\r\n"+
			"x-storylane-signature: "+sign([]byte("x"), secret1)+"\r\n\r\n")
		body(c)
	}()
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return read.Load(), res.StatusCode, res.Close
}
