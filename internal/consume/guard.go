package consume

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// errRefused marks a message this consumer will not hand to its handler:
// anyone allowed to publish dead letters or to update a durable (the
// embedded broker's unauthenticated readers) could have put it there.
var errRefused = errors.New("refused")

// refuseLogEvery bounds the log lines of refusals: a flood of forged
// messages must not become a flood of log lines.
const refuseLogEvery = 30 * time.Second

// within reports whether subject matches one of filters, wildcards
// included.
func within(subject string, filters []string) bool {
	return slices.ContainsFunc(filters, func(f string) bool { return subjectMatches(subject, f) })
}

func subjectMatches(subject, filter string) bool {
	st, ft := strings.Split(subject, "."), strings.Split(filter, ".")
	for i, f := range ft {
		switch {
		case f == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case f != "*" && f != st[i]:
			return false
		}
	}
	return len(st) == len(ft)
}

// refuse terminates msg without handing it over. Terminating, rather than
// dead-lettering, keeps what may be forged out of the dead letters a
// re-drive would give to the handler, and leaves the message to the
// consumers it is meant for.
func (c *Consumer) refuse(msg jetstream.Msg, err error) {
	reason := strings.TrimPrefix(err.Error(), errRefused.Error()+": ")
	var seq uint64
	if meta, merr := msg.Metadata(); merr == nil {
		seq = meta.Sequence.Stream
	}
	c.count(outcomeRefused)
	if unlogged, ok := c.refused.allow(kindOf(reason)); ok {
		c.logger.Error("message refused, not handled: "+kindOf(reason), zap.String("subject", msg.Subject()), zap.Uint64("seq", seq),
			zap.String("why", reason), zap.Int("refusals_not_logged", unlogged))
	}
	if terr := msg.TermWithReason("refused"); terr != nil {
		c.logger.Warn("terminate of a refused message failed; it will be refused again", zap.Uint64("seq", seq), zap.Error(terr))
	}
}

// kindOf is the part of a reason before its details, which key the rate
// of its log lines.
func kindOf(reason string) string {
	kind, _, _ := strings.Cut(reason, ":")
	return kind
}

// checkSubject refuses a message outside the durable's filter: the durable
// may have been re-pointed by someone else.
func (c *Consumer) checkSubject(msg jetstream.Msg) error {
	if within(msg.Subject(), c.cfg.FilterSubjects) {
		return nil
	}
	return fmt.Errorf("%w: subject outside the consumer's filter %v", errRefused, c.cfg.FilterSubjects)
}

// verifyDeadLetter accepts a dead letter only if the original it names is
// still in the stream, on an event subject the re-driven durable reads,
// with the same data and headers: a dead letter is a pointer to a signed
// event, never an event of its own. An error wrapping errRefused means a
// forgery or an original gone; any other, that the original could not be
// read, to be tried again.
func (c *Consumer) verifyDeadLetter(ctx context.Context, msg jetstream.Msg) error {
	seq, err := strconv.ParseUint(msg.Headers().Get(DeadLetterSeqHeader), 10, 64)
	if err != nil || seq == 0 {
		return fmt.Errorf("%w: dead letter names no original (%s)", errRefused, DeadLetterSeqHeader)
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	orig, err := c.origin.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("%w: original gone: stream sequence %d is no longer in the stream (aged out by its max age or limits, or deleted), so the dead letter cannot be verified", errRefused, seq)
	}
	if err != nil {
		return fmt.Errorf("read original at stream sequence %d: %w", seq, err)
	}
	switch {
	case !within(orig.Subject, c.cfg.Subjects.EventSubjects()) || !within(orig.Subject, c.sourceFilters):
		return fmt.Errorf("%w: original not an event of this consumer: stream sequence %d is on %s", errRefused, seq, orig.Subject)
	case !bytes.Equal(orig.Data, msg.Data()):
		return fmt.Errorf("%w: data differs from the original: stream sequence %d", errRefused, seq)
	case !sameHeaders(orig.Header, msg.Headers()):
		return fmt.Errorf("%w: headers differ from the original: stream sequence %d", errRefused, seq)
	}
	return nil
}

// sameHeaders reports whether a dead letter carries its original's headers
// and no others, leaving out JetStream's own (Nats-*, including the message
// id a dead letter replaces) and the dead letter's (Storylane-Dlq-*).
func sameHeaders(orig, dl nats.Header) bool {
	ours := func(h nats.Header) map[string][]string {
		m := map[string][]string{}
		for k, v := range h {
			if !hasPrefixFold(k, "Nats-") && !hasPrefixFold(k, "Storylane-Dlq-") {
				m[k] = v
			}
		}
		return m
	}
	a, b := ours(orig), ours(dl)
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
