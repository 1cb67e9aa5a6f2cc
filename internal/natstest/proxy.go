package natstest

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards loopback TCP connections to a server and can freeze them:
// it then stops reading and writing without closing anything, as a frozen
// process or a host cut off by the network would. No reset reaches either
// side, and what is sent to it piles up in the kernel's socket buffers
// until the sender's writes block. It can also cut them: every connection
// is closed, and new ones are closed as soon as accepted, as a link whose
// far end is gone would be.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	thawed  chan struct{} // closed while forwarding, open while frozen
	closed  chan struct{}
	conns   []net.Conn
	wg      sync.WaitGroup
	stopped bool
	cut     bool
}

// StartProxy listens on a free loopback port and forwards every
// connection to target; the test's cleanup closes it.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("natstest: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, thawed: make(chan struct{}), closed: make(chan struct{})}
	close(p.thawed)
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// URL is the proxy's client URL.
func (p *Proxy) URL() string { return "nats://" + p.ln.Addr().String() }

// Conns is the number of connections the proxy has accepted and not seen
// end.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Freeze stops forwarding, in both directions, on every connection.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default:
	}
}

// Thaw forwards again what piled up, and everything after.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// Cut closes every connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
}

// Restore forwards new connections again after Cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Close closes the listener and every connection, frozen or not, and
// waits for the forwarding to end. Closing twice does nothing.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	close(p.closed)
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.isCut() {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			continue // closed: the next Accept fails and ends the loop
		}
		p.wg.Add(2)
		go p.forward(client, server)
		go p.forward(server, client)
	}
}

// track records a connection pair, or closes it when the proxy is cut or
// closed, and reports whether to forward it.
func (p *Proxy) track(client, server net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.cut {
		client.Close()
		server.Close()
		return false
	}
	p.conns = append(p.conns, client, server)
	return true
}

// forward copies from src to dst, holding each chunk while frozen and
// reading nothing more until thawed. Either side ending ends both.
func (p *Proxy) forward(src, dst net.Conn) {
	defer p.wg.Done()
	defer p.untrack(src, dst)
	buf := make([]byte, 32<<10)
	for {
		if !p.waitThawed() {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitThawed() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

func (p *Proxy) waitThawed() bool {
	p.mu.Lock()
	thawed := p.thawed
	p.mu.Unlock()
	select {
	case <-thawed:
		return true
	case <-p.closed:
		return false
	}
}

func (p *Proxy) untrack(a, b net.Conn) {
	a.Close()
	b.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.conns[:0]
	for _, c := range p.conns {
		if c != a && c != b {
			kept = append(kept, c)
		}
	}
	p.conns = kept
}
