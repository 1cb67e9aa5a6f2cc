package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/consume"
)

// errNotABacklog reports --backlog on a stream that keeps every event.
var errNotABacklog = errors.New("not an edge's backlog")

// backlog prints an edge's backlog: the webhooks its WorkQueue stream
// holds, which are exactly those the hub has not stored yet. It reads them
// by sequence, with no consumer: the stream takes none besides the hub's
// HUB, and the hub's own forwarding goes on meanwhile, so a webhook may be
// forwarded (and gone) before it is read. What is stored after the
// summary is left out.
func backlog(ctx context.Context, js jetstream.JetStream, cfg config, where string, stdout, stderr io.Writer) error {
	s, err := js.Stream(ctx, cfg.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", cfg.stream, err)
	}
	info := s.CachedInfo()
	if info.Config.Retention != jetstream.WorkQueuePolicy {
		return fmt.Errorf("%w: stream %s on %s keeps every event (%s retention): point --nats-url at an edge's listener, "+
			"or --js-domain at edge-<name> through the hub", errNotABacklog, cfg.stream, where, info.Config.Retention)
	}
	fmt.Fprintln(stderr, "storylane-tail: "+backlogSummary(cfg.stream, where, info.State, time.Now()))
	if cfg.format == "text" {
		if _, err := fmt.Fprintln(stdout, header()); err != nil {
			return err
		}
	}
	for seq, n := info.State.FirstSeq, 0; cfg.count == 0 || n < cfg.count; n++ {
		// The next message on the --type's subjects from seq: one request
		// per webhook shown, none for those forwarded since.
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(cfg.filter()))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s from #%d: %w", cfg.stream, seq, err)
		}
		if m.Sequence > info.State.LastSeq {
			return nil // stored after the summary was taken
		}
		if err := printStored(stdout, cfg, m); err != nil {
			return err
		}
		seq = m.Sequence + 1
	}
	return nil
}

// backlogSummary says how big and how old a backlog is, for a person.
func backlogSummary(stream, where string, st jetstream.StreamState, now time.Time) string {
	if st.Msgs == 0 {
		return fmt.Sprintf("edge backlog of %s on %s: empty, the hub has every webhook", stream, where)
	}
	return fmt.Sprintf("edge backlog of %s on %s: %d webhook(s), %d bytes, the oldest stored %s ago (%s)",
		stream, where, st.Msgs, st.Bytes, now.Sub(st.FirstTime).Round(time.Second), st.FirstTime.UTC().Format(time.RFC3339))
}

// printStored prints one stored message's session.
func printStored(w io.Writer, cfg config, m *jetstream.RawStreamMsg) error {
	e, err := consume.DecodeStored(m)
	if err != nil {
		_, err = fmt.Fprintf(w, "# stream message #%d on %s is not a session: %v\n", m.Sequence, m.Subject, err)
		return err
	}
	line, err := formatEvent(cfg.format, e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}
