package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/jsontest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// hostileData is session data the bridge refuses as not I-JSON, which an
// event stored before it did (or published around it) may still carry.
var hostileData = [][]byte{
	[]byte(`{"id":"h0","lead":{"email":"x@example.org"},"lead":null}`),
	[]byte(`{"id":"h1","id":"other"}`),
	[]byte("{\"id\":\"h2\",\"name\":\"Jo\xe9\"}"),
	[]byte(`{"id":"h3","name":"\ud800"}`),
	[]byte(`{"id":"h4","name":"\uffff"}`),
	[]byte(`{"id":"h5","x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`),
}

// publishHostile stores each of hostileData with the bridge's headers.
func (f fixture) publishHostile(t *testing.T) {
	t.Helper()
	enc := cloudevent.DefaultEncoder()
	for i, data := range hostileData {
		msg := enc.Msg(f.stream.Subjects.Session(true), storylane.Summary{ID: fmt.Sprintf("h%d", i), Known: true}, data, time.Now())
		if _, err := f.js.PublishMsg(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
}

// readStrictly reads every archive file back as the strictest readers do:
// the whole file valid UTF-8, and each line I-JSON; with python3 at hand,
// Python's json.loads too, refusing a name given twice. It returns the
// number of lines.
func (f fixture) readStrictly(t *testing.T) int {
	t.Helper()
	parts, _ := filepath.Glob(filepath.Join(f.dir, "dt=*", "sessions.ndjson"))
	lines := 0
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) {
			t.Errorf("%s is not valid UTF-8", p)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
			lines++
			if err := jsontest.Strict(line); err != nil {
				t.Errorf("%s: line %.80q: a strict reader says %v", p, line, err)
			}
		}
	}
	python, err := exec.LookPath("python3")
	if err != nil || len(parts) == 0 {
		t.Logf("python3 not found (%v): the archive read by Go alone", err)
		return lines
	}
	const script = `import json, sys
def unique(pairs):
    names = [k for k, _ in pairs]
    if len(names) != len(set(names)):
        raise ValueError("a name given twice")
    return dict(pairs)
for path in sys.argv[1:]:
    with open(path, encoding="utf-8", errors="strict") as f:
        for line in f:
            json.dumps(json.loads(line, object_pairs_hook=unique), ensure_ascii=False).encode("utf-8")
`
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, python, append([]string{"-c", script}, parts...)...).CombinedOutput(); err != nil {
		t.Errorf("python3 json.loads of the archive: %v\n%s", err, out)
	}
	return lines
}

// The archive never holds a line a strict reader refuses: events whose data
// is not I-JSON are dead-lettered, by the consumer and by a replay alike.
func TestArchiveLinesAreStrictJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publishHostile(t)
	ids := f.publish(t, 0, 6)
	r := f.start(t)
	poll.Eventually(t, "6 events archived and the hostile ones dead-lettered", 20*time.Second, func() bool {
		return len(f.archived(t)) == 6 && len(f.deadLetters(t)) == len(hostileData)
	})
	checkExactlyOnce(t, f.archived(t), ids)
	if n := f.readStrictly(t); n != 6 {
		t.Errorf("archive holds %d lines, want 6", n)
	}
	if err := r.Stop(t); err != nil {
		t.Fatalf("session-archive after stop = %v, want nil", err)
	}

	// A replay into an empty archive reads the stream itself, hostile
	// events included, and leaves them out too.
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	r = f.start(t, "--replay")
	checkExactlyOnce(t, f.archived(t), ids)
	if n := f.readStrictly(t); n != 6 {
		t.Errorf("replayed archive holds %d lines, want 6", n)
	}
	if err := r.Stop(t); err != nil {
		t.Fatalf("session-archive --replay after stop = %v, want nil", err)
	}
}
