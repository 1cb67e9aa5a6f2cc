package ingress

import (
	"net/http"
	"sync/atomic"
)

// Gate is the public listener's handler from the moment it is bound. While
// the process starts (waiting, maybe, for its broker and stream) it serves
// the starting routes, so an orchestrator neither kills the waiting process
// nor sends it webhooks; once opened, the ingress server serves every
// request.
type Gate struct {
	next     atomic.Pointer[http.Handler]
	starting http.Handler
}

// NewGate returns a gate not yet open.
func NewGate() *Gate { return &Gate{starting: startingRoutes()} }

// Open hands every request from now on to h, the handler of NewServer.
func (g *Gate) Open(h http.Handler) { g.next.Store(&h) }

// ServeHTTP implements http.Handler.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.next.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	g.starting.ServeHTTP(w, r)
}
