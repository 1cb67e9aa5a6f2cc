package stats

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// snapshotMagic starts every snapshot; a new layout takes a new version.
const snapshotMagic = "storylane-stats snapshot v2\n"

// ErrCorrupt marks a snapshot that is torn, altered or of another layout.
var ErrCorrupt = errors.New("stats snapshot corrupt")

// state is what a snapshot holds: everything Aggregates keep.
type state struct {
	Seq       uint64
	Stream    time.Time
	Seen      tableState
	Demos     []Demo
	Campaigns []Campaign
	Companies []Company
	Cells     map[uint32]*cell
	UTM       tableState
	Visits    tableState
}

// head is the snapshot's first gob message: everything but the tables,
// which follow block by block (tableHead, then its blocks).
type head struct {
	Seq       uint64
	Stream    time.Time
	Demos     []Demo
	Campaigns []Campaign
	Companies []Company
	Cells     map[uint32]*cell
}

type tableHead struct{ Blocks int }

type blockState struct{ Keys, Vals []uint64 }

// Encode writes the aggregates and the last sequence applied, captured
// together under one lock, so that the snapshot is never ahead of what it
// counts: magic, payload length, gob payload, SHA-256 of the payload. The
// writing happens outside the lock: at a million events it takes over a
// second, during which Apply and every query would otherwise wait.
func (a *Aggregates) Encode(w io.Writer) (seq uint64, err error) {
	st := a.capture()
	return st.Seq, st.write(w)
}

func (st *state) write(w io.Writer) error {
	h := sha256.New()
	var payload countingWriter
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return err
	}
	// The length goes first, so the payload is written twice: once to
	// measure it, once for real. Cheaper than holding it all in memory.
	if err := st.encode(&payload); err != nil {
		return fmt.Errorf("encode stats: %w", err)
	}
	if err := binary.Write(bw, binary.BigEndian, payload.n); err != nil {
		return err
	}
	if err := st.encode(io.MultiWriter(bw, h)); err != nil {
		return fmt.Errorf("encode stats: %w", err)
	}
	if _, err := bw.Write(h.Sum(nil)); err != nil {
		return err
	}
	return bw.Flush()
}

// capture is the aggregates' state as of now, which later Applies leave
// as it is: the tables copy a block's values before changing them (see
// table.capture), the demos, campaigns and companies are only appended
// to, and the day cells, changed in place, are copied here (a few
// thousand of them).
func (a *Aggregates) capture() state {
	a.mu.Lock()
	defer a.mu.Unlock()
	cells := make(map[uint32]*cell, len(a.cells))
	for k, c := range a.cells {
		cp := *c
		cp.Time = slices.Clone(c.Time)
		cells[k] = &cp
	}
	return state{Seq: a.seq, Stream: a.stream, Seen: a.seen.capture(), Demos: a.demos.values, Campaigns: a.campaigns.values,
		Companies: a.companies.values, Cells: cells, UTM: a.utm.capture(), Visits: a.visits.capture()}
}

// encode writes st as a gob message per table block: gob builds each
// message whole in memory, and a million-entry table in one message took
// a buffer of more than 100 MB.
func (st *state) encode(w io.Writer) error {
	enc := gob.NewEncoder(w)
	err := enc.Encode(head{Seq: st.Seq, Stream: st.Stream, Demos: st.Demos, Campaigns: st.Campaigns, Companies: st.Companies, Cells: st.Cells})
	for _, t := range []*tableState{&st.Seen, &st.UTM, &st.Visits} {
		if err != nil {
			return err
		}
		err = t.encode(enc)
	}
	return err
}

func (t *tableState) encode(enc *gob.Encoder) error {
	if err := enc.Encode(tableHead{Blocks: len(t.Keys)}); err != nil {
		return err
	}
	for i, keys := range t.Keys {
		b := blockState{Keys: keys}
		if t.Vals != nil {
			b.Vals = t.Vals[i]
		}
		if err := enc.Encode(b); err != nil {
			return err
		}
	}
	return nil
}

func (st *state) decode(r io.Reader) error {
	dec := gob.NewDecoder(r)
	var hd head
	if err := dec.Decode(&hd); err != nil {
		return err
	}
	st.Seq, st.Stream, st.Demos, st.Campaigns, st.Companies, st.Cells = hd.Seq, hd.Stream, hd.Demos, hd.Campaigns, hd.Companies, hd.Cells
	for _, t := range []*tableState{&st.Seen, &st.UTM, &st.Visits} {
		if err := t.decode(dec); err != nil {
			return err
		}
	}
	return nil
}

func (t *tableState) decode(dec *gob.Decoder) error {
	var th tableHead
	if err := dec.Decode(&th); err != nil {
		return err
	}
	if th.Blocks < 0 {
		return errors.New("a table of fewer than no blocks")
	}
	for range th.Blocks {
		var b blockState
		if err := dec.Decode(&b); err != nil {
			return err
		}
		t.Keys = append(t.Keys, b.Keys)
		if b.Vals != nil {
			t.Vals = append(t.Vals, b.Vals)
		}
	}
	return nil
}

type countingWriter struct{ n uint64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += uint64(len(p))
	return len(p), nil
}

// Decode reads aggregates that Encode wrote. A snapshot that is cut
// short, altered or of another layout is an error wrapping ErrCorrupt:
// never aggregates that are silently wrong.
func Decode(r io.Reader) (*Aggregates, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a snapshot of this version", ErrCorrupt)
	}
	var n uint64
	if err := binary.Read(br, binary.BigEndian, &n); err != nil {
		return nil, fmt.Errorf("%w: no length: %w", ErrCorrupt, err)
	}
	h := sha256.New()
	var st state
	payload := io.TeeReader(io.LimitReader(br, int64(n)), h)
	if err := st.decode(payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if _, err := io.Copy(io.Discard, payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(br, sum); err != nil || string(sum) != string(h.Sum(nil)) {
		return nil, fmt.Errorf("%w: checksum does not match", ErrCorrupt)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: bytes after the checksum", ErrCorrupt)
	}
	return st.aggregates()
}

func (st *state) aggregates() (*Aggregates, error) {
	a := New()
	a.seq, a.stream = st.Seq, st.Stream
	if !a.seen.restore(st.Seen, func(uint64) bool { return true }) {
		return nil, fmt.Errorf("%w: ids out of order", ErrCorrupt)
	}
	a.demos.restore(st.Demos)
	a.campaigns.restore(st.Campaigns)
	a.companies.restore(st.Companies)
	for k, c := range st.Cells {
		if c == nil || int(k&0xffff) >= len(st.Demos) {
			return nil, fmt.Errorf("%w: a day's figures name no demo", ErrCorrupt)
		}
		a.cells[k] = c
	}
	if err := restoreTable(&a.utm, st.UTM, len(st.Demos), len(st.Campaigns)); err != nil {
		return nil, err
	}
	if err := restoreTable(&a.visits, st.Visits, len(st.Demos), len(st.Companies)); err != nil {
		return nil, err
	}
	return a, nil
}

// restoreTable checks a table read before it replaces t's entries.
func restoreTable(t *table, read tableState, demos, others int) error {
	if !t.restore(read, func(k uint64) bool { return int(k>>32&0xffff) < demos && int(uint32(k)) < others }) {
		return fmt.Errorf("%w: a table is out of order, or names a demo, campaign or company it does not hold", ErrCorrupt)
	}
	return nil
}
