// Package archive keeps events as JSON lines in files partitioned by day,
// <dir>/dt=YYYY-MM-DD/sessions.ndjson, the layout DuckDB, Spark and BigQuery
// load directly. Each event id is written once, and Append returns only
// after the line is fsynced, so a consumer that acknowledges after Append
// has every event in the archive exactly once, whenever it is killed.
package archive

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// FileName is the name of each partition's file.
const FileName = "sessions.ndjson"

// Archive appends lines to day partitions. Appends from many goroutines
// are fsynced together (group commit): each waits for the fsync that
// covers its line, and one fsync covers every line written before it.
type Archive struct {
	dir string

	mu     sync.Mutex
	parts  map[string]*partition
	cur    *commit
	failed error // sticky: after a failed write or fsync nothing is trusted
	closed bool

	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	broken  chan struct{} // closed when failed is set
}

// partition is one day's file and the ids it holds.
type partition struct {
	f     *os.File
	w     *bufio.Writer
	ids   map[string]*commit
	dirty bool
}

// commit is one group fsync; done closes when it is over.
type commit struct {
	done chan struct{}
	err  error
}

func newCommit() *commit { return &commit{done: make(chan struct{})} }

// synced stands for lines found on disk when a partition was opened.
var synced = func() *commit { c := newCommit(); close(c.done); return c }()

// Open opens the archive under dir, creating dir if needed.
func Open(dir string) (*Archive, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	a := &Archive{dir: dir, parts: map[string]*partition{}, cur: newCommit(),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}), broken: make(chan struct{})}
	go a.flusher()
	return a, nil
}

// Day is the partition of an event: its time's date in UTC.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Append writes line (without its newline) for event id to the partition of
// day, unless id is already there, and returns once it is on disk.
func (a *Archive) Append(ctx context.Context, day, id string, line []byte) error {
	a.mu.Lock()
	if a.failed != nil || a.closed {
		a.mu.Unlock()
		return errors.Join(a.failed, errClosedIf(a.closed))
	}
	p, err := a.partition(day)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	c, ok := p.ids[id]
	if !ok {
		p.w.Write(line)
		p.w.WriteByte('\n')
		c = a.cur
		p.ids[id] = c
		p.dirty = true
	}
	a.mu.Unlock()
	if !ok {
		select {
		case a.kick <- struct{}{}:
		default: // a flush is already due
		}
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Broken is closed when a write or fsync failed; the archive then refuses
// every append, and the process should stop and start again, which repairs
// a partial line.
func (a *Archive) Broken() <-chan struct{} { return a.broken }

// ErrClosed reports an append after Close.
var ErrClosed = errors.New("archive closed")

func errClosedIf(closed bool) error {
	if closed {
		return ErrClosed
	}
	return nil
}

// Close flushes and fsyncs what was appended and closes the files. Closing
// twice does nothing more.
func (a *Archive) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	close(a.stop)
	<-a.stopped
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, p := range a.parts {
		errs = append(errs, p.f.Close())
	}
	return errors.Join(append(errs, a.failed)...)
}

// flusher runs the group commits until Close.
func (a *Archive) flusher() {
	defer close(a.stopped)
	for {
		select {
		case <-a.kick:
			a.flush()
		case <-a.stop:
			a.flush()
			return
		}
	}
}

func (a *Archive) flush() {
	a.mu.Lock()
	c := a.cur
	a.cur = newCommit()
	var files []*os.File
	var errs []error
	for _, p := range a.parts {
		if p.dirty {
			errs = append(errs, p.w.Flush())
			files = append(files, p.f)
			p.dirty = false
		}
	}
	a.mu.Unlock()
	// Outside the lock, so appends for the next commit go on meanwhile.
	for _, f := range files {
		errs = append(errs, f.Sync())
	}
	if err := errors.Join(errs...); err != nil {
		c.err = fmt.Errorf("archive: %w", err)
		a.mu.Lock()
		if a.failed == nil {
			a.failed = c.err
			close(a.broken)
		}
		a.mu.Unlock()
	}
	close(c.done)
}
