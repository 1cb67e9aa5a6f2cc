// Package archive keeps events as JSON lines in files partitioned by day,
// <dir>/dt=YYYY-MM-DD/sessions.ndjson, the layout DuckDB, Spark and BigQuery
// load directly. Each event id is written once, and Append returns only
// after the line is fsynced, so a consumer that acknowledges after Append
// has every event in the archive exactly once, whenever it is killed.
package archive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// FileName is the name of each partition's file.
const FileName = "sessions.ndjson"

// lockName is the file whose lock keeps a second process out of the
// directory: two writers would overwrite each other's lines.
const lockName = ".lock"

// maxOpen bounds the partitions kept open, with their ids in memory, so a
// replay of years of history does not hold every file and id at once.
const maxOpen = 16

// putsPerFlush is how many lines Put writes between flushes it starts.
const putsPerFlush = 4096

// ErrClosed reports an append after Close.
var ErrClosed = errors.New("archive closed")

// Permissions of what the archive creates. Its lines hold lead names and
// e-mail addresses: private to the archive's user by default, readable by
// its group when asked (GroupReadable). Set whatever the umask.
const (
	PrivateFile os.FileMode = 0o600
	PrivateDir  os.FileMode = 0o700
	GroupFile   os.FileMode = 0o640
	GroupDir    os.FileMode = 0o750
)

// Option changes how Open opens an archive.
type Option func(*Archive)

// GroupReadable lets the archive's group read it: files GroupFile and
// directories GroupDir instead of PrivateFile and PrivateDir.
func GroupReadable() Option {
	return func(a *Archive) { a.fileMode, a.dirMode = GroupFile, GroupDir }
}

// Archive appends lines to day partitions. Appends from many goroutines
// are fsynced together (group commit): each waits for the fsync that
// covers its line, and one fsync covers every line written before it.
type Archive struct {
	dir  string
	lock *os.File
	// fileMode and dirMode are the permissions of its files and
	// directories.
	fileMode, dirMode os.FileMode
	// sync makes a file durable; tests replace it to observe ordering.
	sync func(*os.File) error

	mu     sync.Mutex
	parts  map[string]*partition
	uses   uint64  // clock for least-recently-used partitions
	puts   uint64  // lines put without waiting
	cur    *commit // the commit new lines join
	synced *commit // stands for lines already durable when opened
	failed error   // sticky: after a failed write or fsync nothing is trusted
	closed bool

	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	broken  chan struct{} // closed when failed is set
}

// commit is one group fsync; done closes when it is over.
type commit struct {
	done chan struct{}
	err  error
}

func newCommit() *commit { return &commit{done: make(chan struct{})} }

func (c *commit) over() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Open opens the archive under dir, creating dir if needed, and locks it
// against other processes. What it creates, and the partitions already
// there, get PrivateFile and PrivateDir (or what an option says) whatever
// the umask. An existing dir keeps its own mode: it may be a mount point or
// a parent that others share.
func Open(dir string, opts ...Option) (*Archive, error) {
	a := &Archive{dir: dir, fileMode: PrivateFile, dirMode: PrivateDir, sync: (*os.File).Sync, parts: map[string]*partition{},
		cur: newCommit(), kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}), broken: make(chan struct{})}
	for _, o := range opts {
		o(a)
	}
	if _, err := a.mkdir(dir); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	lock, err := a.openFile(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("archive %s is in use by another process (%w): one writer per directory", dir, err)
	}
	if err := a.protect(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("archive: %w", err)
	}
	a.lock = lock
	a.synced = newCommit()
	close(a.synced.done)
	go a.flusher()
	return a, nil
}

// Day is the partition of an event: its time's date in UTC.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// The years of event times the archive files by. A viewed_at outside them
// is a sender's mistake, not a session: year 0 would make a partition
// dt=0000-01-01 that no query over recent days finds.
const (
	FirstYear = 2000
	LastYear  = 2100
)

// EventDay is the partition of an event with time t that the stream stored
// at stored: t's day, or stored's when t is missing or outside FirstYear to
// LastYear. Both are fixed for a stored message, so every delivery and every
// replay files it in the same partition, where its id is recognised.
func EventDay(t, stored time.Time) string {
	if y := t.UTC().Year(); y < FirstYear || y > LastYear {
		return Day(stored)
	}
	return Day(t)
}

// Append writes line (without its newline) for event id to the partition of
// day, unless id is already there, and returns once it is on disk. A
// duplicate id waits for the fsync of its first line.
func (a *Archive) Append(ctx context.Context, day, id string, line []byte) error {
	a.mu.Lock()
	c, wrote, err := a.write(day, id, line)
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if wrote || !c.over() {
		// A line of its own, or one put without a flush yet: either way
		// a flush must come.
		a.requestFlush()
	}
	return wait(ctx, c)
}

// requestFlush has the flusher run soon; a request already pending covers
// this one too.
func (a *Archive) requestFlush() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// wait returns c's outcome once it is over, or ctx's error first.
func wait(ctx context.Context, c *commit) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Put writes line for event id to the partition of day, unless id is
// already there, without waiting for it to be on disk: Sync does. A reader
// that keeps no other record of what it put (a replay) uses it.
func (a *Archive) Put(day, id string, line []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, wrote, err := a.write(day, id, line)
	if !wrote {
		return err
	}
	if a.puts++; a.puts%putsPerFlush == 0 {
		// Now and then, so that partitions become clean and can be
		// closed: a replay of years does not hold every day open.
		a.requestFlush()
	}
	return err
}

// Sync returns once every line put or appended before it is on disk.
func (a *Archive) Sync(ctx context.Context) error {
	a.mu.Lock()
	c, closed := a.cur, a.closed
	a.mu.Unlock()
	if closed {
		return ErrClosed
	}
	a.requestFlush()
	if err := wait(ctx, c); err != nil {
		return err
	}
	// An earlier flush may have failed while this one had nothing to do.
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

// write appends the line unless its id is known, and returns the commit to
// wait for. The caller holds a.mu.
func (a *Archive) write(day, id string, line []byte) (*commit, bool, error) {
	if a.closed {
		return nil, false, ErrClosed
	}
	if a.failed != nil {
		return nil, false, a.failed
	}
	p, err := a.partition(day)
	if err != nil {
		a.fail(err) // a file it cannot read or repair: stop, do not skip the day
		return nil, false, err
	}
	if c, ok := p.ids[id]; ok {
		return c, false, nil
	}
	p.w.Write(line)
	p.w.WriteByte('\n')
	p.ids[id] = a.cur
	p.last = a.cur
	p.dirty = true
	return a.cur, true, nil
}

// fail makes the archive refuse every append from now on. The caller holds
// a.mu.
func (a *Archive) fail(err error) {
	if a.failed == nil {
		a.failed = err
		close(a.broken)
	}
}

// Broken is closed when a partition could not be opened or a write or fsync
// failed; the archive then refuses every append, and the process should
// stop and start again, which repairs a partial line.
func (a *Archive) Broken() <-chan struct{} { return a.broken }

// Close flushes and fsyncs what was appended, closes the files and
// releases the directory. Closing twice does nothing more.
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
	errs = append(errs, a.lock.Close(), a.failed)
	return errors.Join(errs...)
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
	prior := a.failed // lines after a failure are not trusted either
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
		errs = append(errs, a.sync(f))
	}
	if err := errors.Join(errs...); err != nil {
		c.err = fmt.Errorf("archive: %w", err)
		a.mu.Lock()
		a.fail(c.err)
		a.mu.Unlock()
	} else if prior != nil {
		c.err = prior
	}
	close(c.done)
}
