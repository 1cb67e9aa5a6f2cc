package main

import (
	"context"

	"github.com/storylane-bridge/storylane-bridge/internal/archive"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
)

// sink puts events into the archive, from the durable (handle) and from a
// replay (Put, Sync). The archive copies events: each line is rendered
// from the message as stored, without decoding the event and the session
// first.
type sink struct {
	arc   *archive.Archive
	liner cloudevent.Liner
}

// line renders e; an event it cannot render is dead-lettered.
func (s *sink) line(e consume.Event) (cloudevent.Line, error) {
	line, err := s.liner.Line(e.Subject, e.Header, e.Data)
	if err != nil {
		return line, consume.Permanent(err)
	}
	return line, nil
}

// handle appends e and returns once its line is fsynced.
func (s *sink) handle(ctx context.Context, e consume.Event) error {
	line, err := s.line(e)
	if err != nil {
		return err
	}
	return s.arc.Append(ctx, archive.EventDay(line.Time, e.Stored), line.ID, line.JSON)
}

// Put writes e without waiting for an fsync: a replay syncs once, at its
// end.
func (s *sink) Put(e consume.Event) error {
	line, err := s.line(e)
	if err != nil {
		return err
	}
	return s.arc.Put(archive.EventDay(line.Time, e.Stored), line.ID, line.JSON)
}

// Sync makes what Put wrote durable.
func (s *sink) Sync(ctx context.Context) error { return s.arc.Sync(ctx) }
