package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/internal/tracing"
)

// Headers on a message kept on the invalid subject.
const (
	InvalidReasonHeader = "Storylane-Invalid-Reason"
	ReceivedAtHeader    = "Storylane-Received-At"
)

// retryAfter is the Retry-After of a 503, in seconds: long enough for a
// reconnection or a leader election, short enough not to delay much.
const retryAfter = "5"

// stored is the answer once JetStream acknowledged an event.
type stored struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
}

// rejected is the answer to a signed payload that is not a valid session;
// it is kept on the invalid subject all the same.
type rejected struct {
	Error     string `json:"error"`
	Reason    string `json:"reason"`
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
	RequestID string `json:"request_id,omitempty"`
}

func (s *Server) handleWebhook() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		received := s.cfg.Now()
		// The request continues a trusted proxy's trace, or starts one: the
		// signature does not cover traceparent and tracestate, and both
		// ride on the event to every consumer and the CRM.
		ctx := r.Context()
		if s.fromTrustedProxy(r) {
			ctx = tracing.Propagator().Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		ctx, span := s.tracer.Start(ctx, "POST "+WebhookPath, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		body, release, ok := s.readBody(w, r)
		if !ok {
			return
		}
		defer release()
		key, err := s.verifier.Verify(body, r.Header.Get(storylane.SignatureHeader))
		if err != nil {
			s.unauthorized(w, r, err)
			return
		}
		s.metrics.key(key)
		annotate(r, zap.Int("key", key))
		leave, bound := s.admit.enterAll(r.Context())
		if leave == nil {
			s.shed(w, r, bound)
			return
		}
		defer leave()
		msg, reason := s.message(body, received)
		if msg == nil {
			s.keepInvalid(ctx, w, r, body, reason, received)
			return
		}
		ack, ok := s.publish(ctx, w, r, msg)
		if !ok {
			return
		}
		typ := msg.Header.Get(cloudevent.HeaderPrefix + "type")
		annotate(r, zap.String("event_id", msg.Header.Get(jetstream.MsgIDHeader)), zap.String("type", typ),
			zap.Uint64("seq", ack.Sequence), zap.Bool("duplicate", ack.Duplicate))
		if ack.Duplicate {
			s.metrics.webhook(outcomeDuplicate)
		} else {
			s.metrics.webhook(outcomeStored)
		}
		writeJSON(w, http.StatusOK, stored{ID: msg.Header.Get(jetstream.MsgIDHeader), Type: typ,
			Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate})
	}
}

// readBody reads the whole body within the limit, answering 413 past it,
// and 503 when the byte budget has no room for it in time. release gives
// the body's bytes back to the budget.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, func(), bool) {
	if r.ContentLength > s.cfg.MaxBody {
		s.tooLarge(w, r)
		return nil, nil, false
	}
	body, release, err := s.bodies.read(r.Context(), ClientKey(s.client(r)), http.MaxBytesReader(underlying(w), r.Body, s.cfg.MaxBody), r.ContentLength)
	if err != nil {
		release()
		var maxErr *http.MaxBytesError
		switch {
		case errors.As(err, &maxErr):
			s.tooLarge(w, r)
		case errors.Is(err, errBudget):
			s.shed(w, r, boundBufferedBytes)
		default:
			annotate(r, zap.NamedError("read", err))
			s.reject(w, r, outcomeBadRequest, http.StatusBadRequest, "could not read the body", "")
		}
		return nil, nil, false
	}
	s.metrics.payloadBytes.Observe(float64(len(body)))
	return body, release, true
}

func (s *Server) tooLarge(w http.ResponseWriter, r *http.Request) {
	stopReading(w)
	s.reject(w, r, outcomeTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", s.cfg.MaxBody), "")
}

// unauthorized answers a webhook whose signature failed; nothing about the
// expected signature or the secrets is said.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	annotate(r, zap.NamedError("signature", err))
	reason, msg := "mismatch", "invalid signature"
	switch {
	case errors.Is(err, storylane.ErrNoSignature):
		reason, msg = "missing", "missing signature"
	case errors.Is(err, storylane.ErrMalformedSignature):
		reason = "malformed"
	}
	s.metrics.signatureBad.WithLabelValues(reason).Inc()
	s.reject(w, r, outcomeUnauthorized, http.StatusUnauthorized, msg, "")
}

// message reads a verified body and encodes its event; when the body is
// not a valid session it returns the reason instead.
func (s *Server) message(body []byte, received time.Time) (*nats.Msg, string) {
	session, err := s.reader.Read(body)
	if err != nil {
		return nil, err.Error()
	}
	return s.events.Msg(s.cfg.Subjects.Session(session.Known), session, body, received), ""
}

// keepInvalid stores a signed but invalid payload on the invalid subject,
// so nothing Storylane sent is lost, and answers 422 once it is stored.
func (s *Server) keepInvalid(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte, reason string, received time.Time) {
	reason = cloudevent.HeaderText(reason)
	msg := &nats.Msg{Subject: s.cfg.Subjects.Invalid(), Data: body, Header: nats.Header{}}
	// Not the event id: were the same body valid later (a schema change),
	// its event would be taken for a duplicate of this and never stored.
	msg.Header.Set(jetstream.MsgIDHeader, "invalid:"+cloudevent.ID(body))
	msg.Header.Set(InvalidReasonHeader, reason)
	msg.Header.Set(ReceivedAtHeader, received.UTC().Format(time.RFC3339Nano))
	ack, ok := s.publish(ctx, w, r, msg)
	if !ok {
		return
	}
	annotate(r, zap.String("invalid", reason), zap.Uint64("seq", ack.Sequence))
	s.metrics.webhook(outcomeInvalid)
	writeJSON(w, http.StatusUnprocessableEntity, rejected{Error: "payload is not a valid storylane session",
		Reason: reason, Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate, RequestID: requestID(r)})
}

// publish stores msg, waiting at most PublishTimeout for the ack; ctx is the
// request's, carrying its trace. Without an
// ack it answers 503 with Retry-After (413 when the broker can never take
// it) and reports false: a 2xx is only ever sent for a stored event.
func (s *Server) publish(ctx context.Context, w http.ResponseWriter, r *http.Request, msg *nats.Msg) (*jetstream.PubAck, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	ctx, span := s.tracer.Start(ctx, "publish "+msg.Subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(tracing.EventID(msg.Header.Get(jetstream.MsgIDHeader))))
	defer span.End()
	// The event carries the trace on, as its distributed-tracing extension.
	tracing.Inject(ctx, msg.Header)
	start := time.Now()
	ack, err := s.publisher.Publish(ctx, msg)
	s.metrics.publishTime.Observe(time.Since(start).Seconds())
	if err == nil {
		span.SetAttributes(attribute.Int64("messaging.jetstream.sequence", int64(ack.Sequence)), attribute.Bool("storylane.duplicate", ack.Duplicate))
		return ack, true
	}
	span.SetStatus(codes.Error, err.Error())
	annotate(r, zap.NamedError("publish", err))
	if errors.Is(err, broker.ErrTooLarge) {
		s.metrics.webhook(outcomeBrokerLarge)
		writeError(w, r, http.StatusRequestEntityTooLarge, "body too large for the broker")
		return nil, false
	}
	s.metrics.webhook(outcomeUnavailable)
	w.Header().Set("Retry-After", retryAfter)
	if errors.Is(err, broker.ErrStreamFull) {
		// An edge's backlog at its budget: it has room again as soon as
		// the hub takes some of it.
		writeError(w, r, http.StatusServiceUnavailable, "event store full, retry later")
		return nil, false
	}
	writeError(w, r, http.StatusServiceUnavailable, "event store unavailable, retry later")
	return nil, false
}
