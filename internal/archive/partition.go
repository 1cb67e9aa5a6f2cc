package archive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/storylane-bridge/storylane-bridge/internal/durablefile"
)

// partition is one day's open file and the ids it holds.
type partition struct {
	f     *os.File
	w     *bufio.Writer
	ids   map[string]*commit
	last  *commit // the commit of its latest line
	dirty bool    // lines written since the last flush
	used  uint64
}

// partition returns the open partition of day, opening it on first use:
// a line cut short by a crash is cut off, what the file holds is fsynced
// (a crash may have left it in the page cache only), and the ids of its
// lines are read. The caller holds a.mu.
func (a *Archive) partition(day string) (*partition, error) {
	a.uses++
	if p, ok := a.parts[day]; ok {
		p.used = a.uses
		return p, nil
	}
	a.evict()
	dir := filepath.Join(a.dir, "dt="+day)
	created, err := a.mkdir(dir)
	if err != nil {
		return nil, fmt.Errorf("archive partition %s: %w", day, err)
	}
	f, err := a.openFile(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("archive partition %s: %w", day, err)
	}
	ids, end, err := readIDs(f, a.synced)
	if err == nil {
		err = repair(f, end)
	}
	if err == nil {
		err = a.sync(f)
	}
	if err == nil && created {
		err = durablefile.SyncDir(a.dir) // the new partition's entry
	}
	if err == nil {
		err = durablefile.SyncDir(dir) // the file's entry
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("archive partition %s: %w", day, err)
	}
	p := &partition{f: f, w: bufio.NewWriterSize(f, 64<<10), ids: ids, last: a.synced, used: a.uses}
	a.parts[day] = p
	return p, nil
}

// evict closes the least recently used partition whose lines are all
// durable, when maxOpen are open; its ids are read again if it is needed.
func (a *Archive) evict() {
	if len(a.parts) < maxOpen {
		return
	}
	var oldest string
	for day, p := range a.parts {
		if !p.dirty && p.last.over() && (oldest == "" || p.used < a.parts[oldest].used) {
			oldest = day
		}
	}
	if oldest != "" {
		a.parts[oldest].f.Close()
		delete(a.parts, oldest)
		return
	}
	// Every open partition has lines not yet durable (lines put without
	// waiting): a flush makes them closable for the next opening.
	a.requestFlush()
}

// readIDs reads the event id of every complete line and returns the offset
// just after the last one.
func readIDs(f *os.File, synced *commit) (map[string]*commit, int64, error) {
	ids := map[string]*commit{}
	r := bufio.NewReaderSize(f, 256<<10)
	var end int64
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			line, err = readLong(r, line)
		}
		if errors.Is(err, io.EOF) {
			return ids, end, nil // what is left, if anything, is a cut line
		}
		if err != nil {
			return nil, 0, err
		}
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(line), &ev); err != nil || ev.ID == "" {
			return nil, 0, fmt.Errorf("%s line %d is not an event: refusing to append to a file I cannot read", f.Name(), n)
		}
		ids[ev.ID] = synced
		end += int64(len(line))
	}
}

// readLong finishes reading a line longer than the reader's buffer.
func readLong(r *bufio.Reader, head []byte) ([]byte, error) {
	line := append([]byte(nil), head...)
	for {
		more, err := r.ReadSlice('\n')
		line = append(line, more...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// repair cuts off whatever follows the last complete line and positions the
// file there for appending.
func repair(f *os.File, end int64) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() > end {
		if err := f.Truncate(end); err != nil {
			return err
		}
	}
	_, err = f.Seek(end, io.SeekStart)
	return err
}
