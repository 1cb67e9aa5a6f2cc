package connlimit

import (
	"bytes"
	"container/list"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
)

// state is where a connection stands, as far as making room goes.
type state uint8

const (
	stateNew     state = iota // accepted; its first request's headers not read yet
	stateIdle                 // between requests
	stateServing              // a request's headers read: being served
)

func (s state) String() string {
	switch s {
	case stateNew:
		return "new"
	case stateIdle:
		return "idle"
	}
	return "serving"
}

// Why a connection was refused or closed to make room: the values of the
// metrics' labels.
const (
	reasonNotAllowed = "not_allowed" // peer outside Config.Allow
	reasonClientBusy = "client_busy" // MaxPerClient reached, every one serving
	reasonAllBusy    = "all_busy"    // MaxConns reached, every one serving
	boundPerClient   = "per_client"
	boundGlobal      = "global"
)

// conn is a counted connection; it gives its place back when closed.
type conn struct {
	net.Conn
	l      *Limiter
	client *client
	key    netip.Addr
	peer   netip.Addr
	once   sync.Once

	// Guarded by l.mu.
	state state
	since time.Time
	gone  bool
	elem  *list.Element // on its client's list of its state, if any
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.release(c) })
	return c.Conn.Close()
}

// net/http answers a request whose headers pass MaxHeaderBytes itself,
// before any handler: it writes these exact bytes, in one call, straight to
// the connection, then closes it. Every other answer of the bridge is JSON,
// so a plain-HTTP connection swaps them for the same answer in JSON (its
// reason and Connection: close kept). net/http writes nothing else of this
// shape, and a handler's answers reach the connection through a buffer, in
// other pieces. Under TLS the bytes pass encrypted, so net/http's own stays.
const (
	plainHeadersTooLarge = "HTTP/1.1 431 Request Header Fields Too Large\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Connection: close\r\n" +
		"\r\n" +
		"431 Request Header Fields Too Large"
	jsonHeadersTooLarge = "HTTP/1.1 431 Request Header Fields Too Large\r\n" +
		"Content-Type: application/json\r\n" +
		"Connection: close\r\n" +
		"Content-Length: 42\r\n" +
		"\r\n" +
		`{"error":"request headers are too large"}` + "\n"
)

// Write passes b on, but for net/http's plain-text 431 on plain HTTP.
func (c *conn) Write(b []byte) (int, error) {
	if c.l.cfg.PlainHTTP && string(b) == plainHeadersTooLarge {
		if _, err := io.WriteString(c.Conn, jsonHeadersTooLarge); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

type listener struct {
	net.Listener
	l *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		nc, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
		if err != nil {
			return nc, nil // not TCP: nothing to count by
		}
		peer := ap.Addr().Unmap()
		c, reason := ln.l.admit(nc, peer)
		// At the global bound nobody can be served before room is made, so
		// Accept itself waits, and the connections after this one wait in
		// the kernel's backlog, costing nothing here: for a connection to
		// close or go idle, or a new one to pass its grace.
		for deadline := time.Now().Add(ln.l.cfg.NewGrace); reason == reasonAllBusy && time.Now().Before(deadline); {
			time.Sleep(roomPoll)
			c, reason = ln.l.admit(nc, peer)
		}
		if c != nil {
			return c, nil
		}
		ln.l.refuse(nc, peer, reason)
	}
}

// roomPoll is how often Accept looks for room at the global bound.
const roomPoll = 10 * time.Millisecond

// refuse counts and logs a refused connection and answers it, without
// holding up Accept.
func (l *Limiter) refuse(nc net.Conn, peer netip.Addr, reason string) {
	l.metrics.refused.WithLabelValues(reason).Inc()
	if l.logRate.Allow() {
		l.logger.Warn("connection refused", zap.String("reason", reason), zap.Stringer("client", peer))
	}
	if reason == reasonNotAllowed || !l.cfg.PlainHTTP {
		nc.Close()
		return
	}
	select {
	case l.refusal <- struct{}{}:
	default:
		nc.Close() // refusing many already: no goroutine more for this one
		return
	}
	go func() {
		defer func() { <-l.refusal }()
		answerBusy(nc)
	}()
}

// maxRefusing bounds the refused connections being answered at once.
const maxRefusing = 64

// busyResponse is the whole answer to a refused connection: a 503 a client
// can read and retry after, rather than a reset.
const busyResponse = "HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: application/json\r\n" +
	"Retry-After: 1\r\n" +
	"Connection: close\r\n" +
	"Content-Length: 50\r\n" +
	"\r\n" +
	`{"error":"every connection is busy, retry later"}` + "\n"

// refusalLinger bounds how long a refused connection is read: for its
// request, so that the answer is not one the client never asked for, and
// after the answer, as closing with unread request bytes makes the kernel
// send a reset, which can reach the client before the answer is read.
const refusalLinger = time.Second

// answerBusy answers 503 to the request a refused connection sends, if it
// sends one soon; a connection that sends nothing is closed.
func answerBusy(nc net.Conn) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(refusalLinger))
	head := make([]byte, 0, 8<<10)
	for !bytes.Contains(head, []byte("\r\n\r\n")) && len(head) < cap(head) {
		n, err := nc.Read(head[len(head):cap(head)])
		head = head[:len(head)+n]
		if err != nil {
			if len(head) == 0 {
				return
			}
			break
		}
	}
	if _, err := io.WriteString(nc, busyResponse); err != nil {
		return
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
}
