package cloudevent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/storylane-bridge/storylane-bridge/internal/archive"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/jsontest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// sdkLine is what a Liner must give: the SDK's decoding of the message,
// then JSONLine, which must be one line of JSON. Whether the data is JSON
// in itself is judged apart from the Liner's own test: from the content
// type as RFC 2045 parses it, from the line the SDK writes (data_base64,
// or data other than the event's, compacted, means the SDK did not carry
// it as a JSON value) and by an independent strict reader.
func sdkLine(subject string, h nats.Header, data []byte) (cloudevent.Line, error) {
	e, err := cloudevent.FromMsg(&nats.Msg{Subject: subject, Header: h, Data: data})
	if err != nil {
		return cloudevent.Line{}, err
	}
	b, err := cloudevent.JSONLine(e)
	if err != nil {
		return cloudevent.Line{}, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || bytes.ContainsAny(b, "\r\n") {
		return cloudevent.Line{}, fmt.Errorf("JSONLine(%s) = %q, not one line of JSON", e.ID(), b)
	}
	if !jsonMediaType(e.DataContentType()) || jsontest.Strict(e.Data()) != nil {
		return cloudevent.Line{}, cloudevent.ErrNotJSON
	}
	if _, b64 := fields["data_base64"]; b64 || !bytes.Equal(compactJSON(fields["data"]), compactJSON(e.Data())) {
		return cloudevent.Line{}, cloudevent.ErrNotJSON
	}
	return cloudevent.Line{JSON: b, ID: e.ID(), Time: e.Time()}, nil
}

// jsonMediaType says whether a datacontenttype is absent or names
// application/json, parameters aside.
func jsonMediaType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// compactJSON is b without whitespace between tokens, or nil.
func compactJSON(b []byte) []byte {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return nil
	}
	return out.Bytes()
}

// checkSameLine fails unless l renders the message as the SDK does, or
// both refuse it.
func checkSameLine(t *testing.T, l *cloudevent.Liner, h nats.Header, data []byte) (cloudevent.Line, error) {
	t.Helper()
	got, err := l.Line("storylane.session.known", h, data)
	want, wantErr := sdkLine("storylane.session.known", h, data)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("Line(%v, %q) = error %v, want error %v", h, data, err, wantErr)
	}
	if err != nil {
		return got, err
	}
	if !bytes.Equal(got.JSON, want.JSON) || got.ID != want.ID || !got.Time.Equal(want.Time) {
		t.Fatalf("Line(%v, %q) = %s (%s, %v), want %s (%s, %v)", h, data, got.JSON, got.ID, got.Time, want.JSON, want.ID, want.Time)
	}
	return got, nil
}

// bridgeMsg is the message the bridge stores for raw.
func bridgeMsg(t testing.TB, raw []byte) *nats.Msg {
	t.Helper()
	s, err := storylane.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	msg := cloudevent.DefaultEncoder().Msg("storylane.session.x", s.Summary(), raw, time.Unix(1700000000, 5))
	return msg
}

func TestLineOfWhatTheBridgeWrites(t *testing.T) {
	t.Parallel()
	compact := func(raw []byte) []byte {
		var b bytes.Buffer
		json.Compact(&b, raw)
		return b.Bytes()
	}
	traced := func(h nats.Header) nats.Header {
		h.Set("ce-traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		h.Set("ce-tracestate", "vendor=a\\b")
		return h
	}
	cases := []struct {
		name string
		raw  []byte
		edit func(nats.Header) nats.Header
	}{
		{"known, over many lines", example(t, "known"), nil},
		{"unknown, over many lines", example(t, "unknown"), nil},
		{"known, one line", compact(example(t, "known")), nil},
		{"traced", compact(example(t, "unknown")), traced},
		{"no viewed_at", []byte(`{"id":"s1"}`), nil},
		{"no dataschema", []byte(`{"id":"s1"}`), func(h nats.Header) nats.Header { h.Del("ce-dataschema"); return h }},
		{"no subject", []byte(`{"id":" "}`), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			msg := bridgeMsg(t, c.raw)
			if c.edit != nil {
				msg.Header = c.edit(msg.Header)
			}
			var l cloudevent.Liner
			if _, ok := l.Fast(msg.Header, msg.Data); !ok {
				t.Errorf("Line(%s) took the SDK's path, want its own", c.name)
			}
			got, err := checkSameLine(t, &l, msg.Header, msg.Data)
			if err != nil {
				t.Fatalf("Line(%s) = %v", c.name, err)
			}
			if got.ID != cloudevent.ID(c.raw) {
				t.Errorf("Line(%s).ID = %s, want %s", c.name, got.ID, cloudevent.ID(c.raw))
			}
		})
	}
}

func TestLineOfOtherMessages(t *testing.T) {
	t.Parallel()
	raw := []byte(`{"id":"a b%é","viewed_at":"2024-05-17T10:58:05.337+02:00"}`) // a percent-encoded subject
	plain := []byte(`{"id":"s1"}`)
	structured := []byte(`{"specversion":"1.0","id":"x","source":"/s","type":"t","datacontenttype":"application/json","data":{"a":1}}`)
	cases := []struct {
		name    string
		h       func() nats.Header
		data    []byte
		wantErr error // nil: a line
	}{
		{"percent-encoded", func() nats.Header { return bridgeMsg(t, raw).Header }, raw, nil},
		{"keys in upper case", func() nats.Header {
			h := nats.Header{}
			for k, v := range bridgeMsg(t, raw).Header {
				h[http1Canonical(k)] = v
			}
			return h
		}, raw, nil},
		{"another extension", func() nats.Header {
			h := bridgeMsg(t, raw).Header
			h.Set("ce-campaign", "spring")
			return h
		}, raw, nil},
		{"quoted value", func() nats.Header {
			h := bridgeMsg(t, raw).Header
			h.Set("ce-type", `"storylane.session.known"`)
			return h
		}, raw, nil},
		{"two ids", func() nats.Header {
			h := bridgeMsg(t, raw).Header
			h.Add("ce-id", "other")
			return h
		}, raw, nil},
		{"structured", func() nats.Header {
			return nats.Header{"Content-Type": {"application/cloudevents+json"}}
		}, structured, nil},
		{"no id", func() nats.Header {
			h := bridgeMsg(t, raw).Header
			h.Del("ce-id")
			return h
		}, raw, errAny},
		{"bad time", func() nats.Header {
			h := bridgeMsg(t, raw).Header
			h.Set("ce-time", "yesterday")
			return h
		}, raw, errAny},
		{"data not JSON", func() nats.Header { return bridgeMsg(t, raw).Header }, []byte(`{"id":`), cloudevent.ErrNotJSON},
		// Raw after "data": these would complete the line into an object.
		{"data that completes the line", func() nats.Header { return bridgeMsg(t, raw).Header }, []byte(`1,"x":2`), cloudevent.ErrNotJSON},
		{"data that forges keys", func() nats.Header { return bridgeMsg(t, raw).Header },
			[]byte(`{"id":"s1"},"id":"forged","time":"2030-01-01T00:00:00Z"`), cloudevent.ErrNotJSON},
		// Data readers would read differently, or that strict readers
		// refuse: an archive line must be I-JSON.
		{"data with a name twice", func() nats.Header { return bridgeMsg(t, raw).Header },
			[]byte(`{"id":"s1","lead":{"email":"x@example.org"},"lead":null}`), cloudevent.ErrNotJSON},
		{"data with invalid UTF-8", func() nats.Header { return bridgeMsg(t, raw).Header }, []byte("{\"id\":\"s\xff\"}"), cloudevent.ErrNotJSON},
		{"data nested 65 deep", func() nats.Header { return bridgeMsg(t, raw).Header },
			[]byte(`{"id":"s1","x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`), cloudevent.ErrNotJSON},
		{"text data", func() nats.Header {
			h := bridgeMsg(t, raw).Header
			h.Set("ce-datacontenttype", "text/plain")
			return h
		}, []byte(`hello`), cloudevent.ErrNotJSON},
		{"zero time", func() nats.Header {
			h := bridgeMsg(t, plain).Header // plain values: the Liner's own path is open to it
			h.Set("ce-time", "0001-01-01T01:00:00+01:00")
			return h
		}, plain, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var l cloudevent.Liner
			_, err := checkSameLine(t, &l, c.h(), c.data)
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("Line(%s) = %v, want a line", c.name, err)
			case c.wantErr == errAny && err == nil, c.wantErr != nil && c.wantErr != errAny && !errors.Is(err, c.wantErr):
				t.Fatalf("Line(%s) = %v, want %v", c.name, err, c.wantErr)
			}
		})
	}
}

// TestLineOfAbsurdYears: a viewed_at far from now becomes the event's time
// on the Liner's own path and the SDK's alike, and so the archive files the
// event in the same partition whichever path rendered it.
func TestLineOfAbsurdYears(t *testing.T) {
	t.Parallel()
	stored := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	cases := []struct{ viewed, want string }{
		{"0000-01-01T00:00:00Z", "2026-11-29"},
		{"0000-06-01T00:00:00+14:00", "2026-11-29"},
		{"0000-01-01T00:00:00+01:00", "2023-11-14"}, // year -1 in UTC: the bridge wrote its receipt
		{"1899-12-31T23:59:59Z", "2026-11-29"},
		{"1999-12-31T23:30:00-01:00", "2000-01-01"},
		{"2024-05-17T10:58:05.337+02:00", "2024-05-17"},
		{"2101-01-01T00:00:00Z", "2026-11-29"},
		{"9999-12-31T23:59:59.999999999Z", "2026-11-29"},
		{"9999-12-31T23:59:59-01:00", "2023-11-14"}, // year 10000 in UTC
	}
	for _, c := range cases {
		raw := []byte(fmt.Sprintf(`{"id":"s1","viewed_at":%q}`, c.viewed))
		own := bridgeMsg(t, raw)
		var l cloudevent.Liner
		if _, ok := l.Fast(own.Header, own.Data); !ok {
			t.Errorf("Line(viewed %s) took the SDK's path, want its own", c.viewed)
		}
		sdk := bridgeMsg(t, raw)
		sdk.Header.Set("ce-campaign", "spring") // an extension: the SDK's path
		for path, h := range map[string]nats.Header{"own": own.Header, "sdk": sdk.Header} {
			line, err := checkSameLine(t, &l, h, raw)
			if err != nil {
				t.Fatalf("Line(viewed %s, %s path) = %v", c.viewed, path, err)
			}
			if got := archive.EventDay(line.Time, stored); got != c.want {
				t.Errorf("EventDay(Line(viewed %s, %s path).Time) = %s, want %s", c.viewed, path, got, c.want)
			}
		}
	}
}

var errAny = errors.New("any error")

// http1Canonical spells a header name as Go's HTTP library would.
func http1Canonical(k string) string {
	b := []byte(k)
	up := true
	for i, c := range b {
		if up && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '-'
	}
	return string(b)
}

// FuzzLine holds a Liner to the SDK: on any headers the bridge might have
// written, and others besides (flags: bit 0 spells the keys as HTTP does,
// bit 1 adds a content-type, bit 2 a tracestate, bit 3 another extension),
// and any data, the same line or the same refusal.
func FuzzLine(f *testing.F) {
	f.Add("2f1c", "https://app.storylane.io", "storylane.session.known", "sess-1", "2024-05-17T08:58:05.337Z",
		"https://schemas.example/s.json", "", []byte(`{"id":"sess-1"}`), uint8(0))
	f.Add("a\\b", "/rel", "t", "", "2024-05-17T10:58:05+02:00", "", "00-4bf9-01", []byte("{\n\"a\": [1, 2]\n}"), uint8(4))
	f.Add("x\"y", "::", "t", "s%20", "2024-05-17T10:58:05Z", "rel/only", "", []byte(`[1,`), uint8(1))
	f.Add("x", "/s", "t", "", "0001-01-01T00:00:00Z", "", "", []byte("{}"), uint8(0))
	f.Add("x", "/s", "t", "", "2024-05-17T10:58:05Z", "", "", []byte(`1,"x":2`), uint8(2))
	f.Add("x", "/s", "t", "", "2024-05-17T10:58:05Z", "", "", []byte(`{}`), uint8(8))
	f.Fuzz(func(t *testing.T, id, source, typ, subject, tm, schema, trace string, data []byte, flags uint8) {
		h := nats.Header{"ce-specversion": {"1.0"}, "ce-datacontenttype": {"application/json"}, "Nats-Msg-Id": {id}}
		for k, v := range map[string]string{"ce-id": id, "ce-source": source, "ce-type": typ, "ce-subject": subject,
			"ce-time": tm, "ce-dataschema": schema, "ce-traceparent": trace} {
			if v != "" {
				h.Set(k, v)
			}
		}
		if flags&2 != 0 {
			h.Set("content-type", "application/json")
		}
		if flags&4 != 0 {
			h.Set("ce-tracestate", "v="+typ)
		}
		if flags&8 != 0 {
			h.Set("ce-campaign", "spring")
		}
		if flags&1 != 0 {
			spelled := nats.Header{}
			for k, v := range h {
				spelled[http1Canonical(k)] = v
			}
			h = spelled
		}
		var l cloudevent.Liner
		got, err := checkSameLine(t, &l, h, data)
		if err == nil && (bytes.ContainsAny(got.JSON, "\r\n") || !json.Valid(got.JSON)) {
			t.Fatalf("Line(%v, %q) = %q, want one line of JSON", h, data, got.JSON)
		}
	})
}

// BenchmarkLine is session-archive's work per event: a stored message of
// the bridge's (one-line data) to its JSON line, by the Liner and by the
// SDK path it stands in for.
func BenchmarkLine(b *testing.B) {
	var c bytes.Buffer
	json.Compact(&c, example(b, "known"))
	msg := bridgeMsg(b, c.Bytes())
	b.Run("liner", func(b *testing.B) {
		var l cloudevent.Liner
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Line(msg.Subject, msg.Header, msg.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sdkLine(msg.Subject, msg.Header, msg.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
