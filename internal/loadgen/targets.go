package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// HTTP posts signed webhooks to a bridge.
type HTTP struct {
	url    string
	secret []byte
	client *http.Client
}

// NewHTTP returns a target at url, signing with secret, keeping up to
// conns connections open.
func NewHTTP(url, secret string, conns int) *HTTP {
	return &HTTP{url: url, secret: []byte(secret), client: newClient(conns)}
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
}

// Send implements Target.
func (h *HTTP) Send(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(storylane.SignatureHeader, storylane.Sign(body, h.secret))
	return do(h.client, req)
}

// Close releases the connections.
func (h *HTTP) Close() { h.client.CloseIdleConnections() }

// Get fetches a URL as it is, whatever the payload: a page or an API (such
// as session-stats' dashboard) under load.
type Get struct {
	url    string
	client *http.Client
}

// NewGet returns a target fetching url, keeping up to conns connections
// open.
func NewGet(url string, conns int) *Get { return &Get{url: url, client: newClient(conns)} }

// Send implements Target; the payload is not sent.
func (g *Get) Send(ctx context.Context, _ []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return 0, err
	}
	return do(g.client, req)
}

// Close releases the connections.
func (g *Get) Close() { g.client.CloseIdleConnections() }

// do sends req and reads the whole answer, so that its latency includes
// the body and the connection is reused.
func do(client *http.Client, req *http.Request) (int, error) {
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode/100 == 2 {
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			return 0, fmt.Errorf("reading the answer: %w", err)
		}
		return res.StatusCode, nil
	}
	// Enough for the bridge's {"error": "..."}; the rest is drained so
	// the connection is reused.
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	io.Copy(io.Discard, res.Body)
	return res.StatusCode, answerReason(res.StatusCode, answer)
}

// Direct publishes the events the bridge would make straight to
// JetStream and waits for each acknowledgement: the broker's own bound for
// the same work.
type Direct struct {
	pub      *broker.Publisher
	subjects broker.Subjects
	events   *cloudevent.Encoder
}

// NewDirect returns a target publishing to stream through js.
func NewDirect(js jetstream.JetStream, stream string, subjects broker.Subjects) *Direct {
	return &Direct{pub: broker.NewPublisher(js, stream), subjects: subjects,
		events: cloudevent.DefaultEncoder()}
}

// Send implements Target.
func (d *Direct) Send(ctx context.Context, body []byte) (int, error) {
	s, err := storylane.Parse(body)
	if err != nil {
		return 0, err
	}
	msg := d.events.Msg(d.subjects.Session(s.Known()), s.Summary(), body, time.Now())
	if _, err := d.pub.Publish(ctx, msg); err != nil {
		return 0, fmt.Errorf("direct publish: %w", err)
	}
	return http.StatusOK, nil
}
