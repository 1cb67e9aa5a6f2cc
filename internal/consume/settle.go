package consume

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/tracing"
)

// Headers a dead letter carries besides the original message's own.
const (
	DeadLetterReasonHeader   = "Storylane-Dlq-Reason"
	DeadLetterAttemptsHeader = "Storylane-Dlq-Attempts"
	DeadLetterConsumerHeader = "Storylane-Dlq-Consumer"
	DeadLetterSubjectHeader  = "Storylane-Dlq-Subject"
	DeadLetterSeqHeader      = "Storylane-Dlq-Stream-Seq"
)

// settleTimeout bounds the publishing of a dead letter.
const settleTimeout = 10 * time.Second

// pastStopDelay keeps a dead letter stored after a re-drive began away from
// that re-drive; the next one takes it.
const pastStopDelay = time.Second

// maxRetryAfter caps the delay a handler may ask for.
const maxRetryAfter = time.Hour

// process handles one message and settles it: ack, nak with a delay, or
// dead letter then terminate.
func (c *Consumer) process(ctx context.Context, msg jetstream.Msg) {
	if err := c.checkSubject(msg); err != nil {
		c.refuse(msg, err)
		return
	}
	meta, err := msg.Metadata()
	if err == nil && c.stopAt > 0 && meta.Sequence.Stream > c.stopAt {
		c.markPastStop(meta.Sequence.Stream)
		msg.NakWithDelay(pastStopDelay) // for the next re-drive
		return
	}
	if c.stopAt > 0 {
		if verr := c.verifyDeadLetter(ctx, msg); errors.Is(verr, errRefused) {
			c.refuse(msg, verr)
			return
		} else if verr != nil {
			c.deadLetter(ctx, msg, 1, fmt.Errorf("re-drive: %w", verr))
			return
		}
	}
	ctx, span := c.tracer.Start(tracing.Extract(ctx, msg.Headers()), "process "+c.cfg.Durable, trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	var e Event
	switch {
	case err == nil && c.asStored:
		e = stored(msg, meta)
	case err == nil:
		p := c.parsers.Get()
		e, err = decodeMsg(p, msg, meta)
		c.parsers.Put(p)
	default:
		err = fmt.Errorf("message metadata: %w", err)
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		c.deadLetter(ctx, msg, c.deliveries(meta), Permanent(err))
		return
	}
	span.SetAttributes(tracing.EventID(e.ID()), attribute.Int64("messaging.delivery.attempt", int64(e.Attempt)))
	if e.Attempt > uint64(c.cfg.MaxDeliver) {
		// Delivered again after its last attempt: the process handling
		// that attempt stopped before settling it.
		c.deadLetter(ctx, msg, e.Attempt-1, fmt.Errorf("no attempts left after %d deliveries", e.Attempt-1))
		return
	}
	start := time.Now()
	err = c.handle(ctx, msg, e)
	c.observe(time.Since(start))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	took := time.Since(start)
	// Built only for a line that is written: most events log nothing.
	log := func() *zap.Logger {
		return c.logger.With(zap.String("event_id", e.ID()), zap.Uint64("seq", e.StreamSeq),
			zap.Uint64("attempt", e.Attempt), zap.Duration("took", took))
	}
	switch {
	case err == nil:
		if err := msg.Ack(); err != nil {
			log().Warn("ack failed; the event will be redelivered", zap.Error(err))
			return
		}
		c.count(outcomeAcked)
		if c.logger.Core().Enabled(zap.DebugLevel) {
			log().Debug("handled")
		}
	case errors.Is(err, ErrPermanent) && c.stopAt > 0:
		c.deadLetter(ctx, msg, 1, err)
	case errors.Is(err, ErrPermanent):
		c.deadLetter(ctx, msg, e.Attempt, err)
	case c.stopAt > 0:
		c.deadLetter(ctx, msg, 1, fmt.Errorf("re-drive: %w", err))
	case e.Attempt >= uint64(c.cfg.MaxDeliver):
		c.deadLetter(ctx, msg, e.Attempt, fmt.Errorf("after %d attempts: %w", e.Attempt, err))
	default:
		delay := c.cfg.backoff(e.Attempt)
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.Delay > delay {
			delay = min(ra.Delay, maxRetryAfter)
		}
		c.count(outcomeRetried)
		log().Warn("handler failed; retrying", zap.Error(err), zap.Duration("retry_in", delay))
		if err := msg.NakWithDelay(delay); err != nil {
			log().Warn("nak failed; the event will be redelivered after the ack wait", zap.Error(err))
		}
	}
}

// deliveries counts the attempts of a message the handler never saw: its
// deliveries so far, this one included (a process that died holding an
// earlier one used it up), or the one attempt of a re-drive. Never 0: a dead
// letter saying it was never tried would be a lie.
func (c *Consumer) deliveries(meta *jetstream.MsgMetadata) uint64 {
	if c.stopAt > 0 || meta == nil {
		return 1
	}
	return max(meta.NumDelivered, 1)
}

// handle runs the handler, telling the server the message is still being
// worked on so a slow handler does not get it redelivered elsewhere. The
// keep-alive is a timer, not a goroutine: most handlers finish long
// before it fires.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg, e Event) error {
	k := &keepAlive{msg: msg, every: max(c.cfg.AckWait/2, time.Millisecond)}
	k.mu.Lock()
	k.timer = time.AfterFunc(k.every, k.fire)
	k.mu.Unlock()
	// Settled only once the keep-alive is over: a late "in progress" after
	// a nak would push the retry out to the ack wait.
	defer k.stop()
	return c.handler(ctx, e)
}

type keepAlive struct {
	msg   jetstream.Msg
	every time.Duration
	mu    sync.Mutex
	timer *time.Timer
	done  bool
}

func (k *keepAlive) fire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done {
		return
	}
	k.msg.InProgress()
	k.timer.Reset(k.every)
}

// stop ends the keep-alive; once it returns no "in progress" is sent.
func (k *keepAlive) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.done = true
	k.timer.Stop()
}

// deadLetter stores msg on the consumer's dead-letter subject with its
// original headers and data and why it is there, then terminates it. When
// the dead letter cannot be stored the message is nak'd instead, so it is
// never dropped.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, attempts uint64, reason error) {
	meta, _ := msg.Metadata()
	var seq uint64
	if meta != nil {
		seq = meta.Sequence.Stream
	}
	dl := &nats.Msg{Subject: c.cfg.Subjects.DeadLetter(c.cfg.DeadLetter), Data: msg.Data(), Header: nats.Header{}}
	for k, v := range msg.Headers() {
		dl.Header[k] = append([]string(nil), v...)
	}
	dl.Header.Set(jetstream.MsgIDHeader, deadLetterID(c.cfg.Durable, msg, meta))
	// A re-driven dead letter keeps its first subject and sequence, and
	// counts every attempt it has had.
	if prior, err := strconv.ParseUint(msg.Headers().Get(DeadLetterAttemptsHeader), 10, 64); err == nil {
		attempts += prior
	} else {
		dl.Header.Set(DeadLetterSubjectHeader, msg.Subject())
		dl.Header.Set(DeadLetterSeqHeader, strconv.FormatUint(seq, 10))
	}
	dl.Header.Set(DeadLetterReasonHeader, cloudevent.HeaderText(reason.Error()))
	dl.Header.Set(DeadLetterAttemptsHeader, strconv.FormatUint(attempts, 10))
	dl.Header.Set(DeadLetterConsumerHeader, c.cfg.Durable)
	pctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	log := c.logger.With(zap.Uint64("seq", seq), zap.Uint64("attempts", attempts), zap.String("reason", cloudevent.HeaderText(reason.Error())))
	if _, err := c.js.PublishMsg(pctx, dl); err != nil {
		log.Error("dead letter not stored; will retry", zap.Error(err))
		msg.NakWithDelay(c.cfg.backoff(1))
		return
	}
	c.count(outcomeDeadLettered)
	if err := msg.TermWithReason("dead-lettered"); err != nil {
		log.Warn("terminate after dead letter failed; a redelivery will be dead-lettered again under the same id", zap.Error(err))
	}
	log.Error("dead-lettered", zap.String("dead_letter_subject", dl.Subject))
}

// deadLetterID is a dead letter's own id (the original's would be taken for
// a duplicate of it), the same for every redelivery of one message, so
// that the stream keeps one dead letter of each. The message's stream
// sequence names it; one whose metadata cannot be read, and so has no
// sequence, is named by a digest of its subject, headers and data, so that
// two such messages do not share an id.
func deadLetterID(durable string, msg jetstream.Msg, meta *jetstream.MsgMetadata) string {
	if meta != nil {
		return fmt.Sprintf("dlq:%s:%d", durable, meta.Sequence.Stream)
	}
	h := sha256.New()
	// Each part length-prefixed: no two messages write the same bytes.
	part := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	part(msg.Subject())
	hdr := msg.Headers()
	for _, k := range slices.Sorted(maps.Keys(hdr)) {
		part(k)
		part(strconv.Itoa(len(hdr[k])))
		for _, v := range hdr[k] {
			part(v)
		}
	}
	h.Write(msg.Data())
	return fmt.Sprintf("dlq:%s:sha256-%x", durable, h.Sum(nil)[:16])
}
