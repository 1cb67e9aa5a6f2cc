package stats

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"time"
)

// snapshotMagic starts every snapshot; a new layout takes a new version.
const snapshotMagic = "storylane-stats snapshot v1\n"

// ErrCorrupt marks a snapshot that is torn, altered or of another layout.
var ErrCorrupt = errors.New("stats snapshot corrupt")

// state is what a snapshot holds: everything Aggregates keep.
type state struct {
	Seq       uint64
	Stream    time.Time // zero in the snapshots written before it was kept
	Seen      tableState
	Demos     []Demo
	Campaigns []Campaign
	Companies []Company
	Cells     map[uint32]*cell
	UTM       tableState
	Visits    tableState
}

// Encode writes the aggregates and the last sequence applied, read
// together under one lock, so that the snapshot is never ahead of what it
// counts: magic, payload length, gob payload, SHA-256 of the payload.
func (a *Aggregates) Encode(w io.Writer) (seq uint64, err error) {
	a.mu.Lock() // state() merges the tables
	st := state{Seq: a.seq, Stream: a.stream, Seen: a.seen.state(), Demos: a.demos.values, Campaigns: a.campaigns.values,
		Companies: a.companies.values, Cells: a.cells, UTM: a.utm.state(), Visits: a.visits.state()}
	defer a.mu.Unlock()
	h := sha256.New()
	var payload countingWriter
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return 0, err
	}
	// The length goes first, so the payload is written twice: once to
	// measure it, once for real. Cheaper than holding it all in memory.
	if err := gob.NewEncoder(&payload).Encode(&st); err != nil {
		return 0, fmt.Errorf("encode stats: %w", err)
	}
	if err := binary.Write(bw, binary.BigEndian, payload.n); err != nil {
		return 0, err
	}
	if err := gob.NewEncoder(io.MultiWriter(bw, h)).Encode(&st); err != nil {
		return 0, fmt.Errorf("encode stats: %w", err)
	}
	if _, err := bw.Write(h.Sum(nil)); err != nil {
		return 0, err
	}
	return st.Seq, bw.Flush()
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
	if err := gob.NewDecoder(payload).Decode(&st); err != nil {
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
