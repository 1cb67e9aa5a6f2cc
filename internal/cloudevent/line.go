package cloudevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// ErrNotJSON reports event data that cannot go on a JSON line as it is.
var ErrNotJSON = errors.New("event data is not JSON")

// Line is a stored event in the structured JSON event format on one line,
// with what an archive files it by.
type Line struct {
	JSON []byte
	ID   string
	Time time.Time // zero when the event has none
}

// Liner renders binary-mode messages as JSON lines. The messages the bridge
// writes are rendered straight from their headers, which costs a fraction
// of decoding each into an SDK event first; anything else (percent-encoded
// values, other attributes or extensions, another content type) takes
// that SDK path. Either way the line is JSONLine(FromMsg(msg)), byte for
// byte; tests and FuzzLine hold the two to that. A Liner is safe for
// concurrent use.
type Liner struct {
	mu sync.RWMutex
	// uris remembers which source and dataschema values the SDK writes
	// back as they came: a stream holds few, and parsing one costs more
	// than the rest of the line.
	uris    map[uriKey]bool
	parsers storylane.ParserPool
}

// iJSON checks data as the bridge does (storylane's I-JSON check), so that no line
// holds data that strict readers refuse or that readers read differently:
// an event stored before the bridge refused such payloads, say, or
// published around it.
func (l *Liner) iJSON(data []byte) error {
	p := l.parsers.Get()
	defer l.parsers.Put(p)
	return p.CheckIJSON(data)
}

type uriKey struct {
	v   string
	ref bool // a source (URI reference), not a dataschema (absolute URI)
}

// maxURIs bounds the values a Liner remembers.
const maxURIs = 64

// Line renders the message stored on subject with headers h and data. An
// event whose data is not JSON in itself (another content type, base64,
// or bytes that are not one I-JSON value) is refused with ErrNotJSON: the
// SDK would write it as a string, or raw where it could complete the line
// into an object with keys of the data's choosing.
func (l *Liner) Line(subject string, h nats.Header, data []byte) (Line, error) {
	if line, ok := l.fast(h, data); ok {
		return line, nil
	}
	e, err := FromMsg(&nats.Msg{Subject: subject, Header: h, Data: data})
	if err != nil {
		return Line{}, err
	}
	// No content type is JSON to the SDK's JSON format too.
	if mt := e.DataMediaType(); mt != "" && !strings.EqualFold(mt, event.ApplicationJSON) || e.DataBase64 || !json.Valid(e.Data()) {
		return Line{}, fmt.Errorf("event %s: %w", e.ID(), ErrNotJSON)
	}
	if err := l.iJSON(e.Data()); err != nil {
		return Line{}, fmt.Errorf("event %s: %w: %w", e.ID(), ErrNotJSON, err)
	}
	b, err := JSONLine(e)
	if err != nil {
		return Line{}, err
	}
	return Line{JSON: b, ID: e.ID(), Time: e.Time()}, nil
}

// attrs are the header values of the attributes the bridge writes, in the
// order the SDK's JSON format writes them.
type attrs struct {
	specVersion, id, source, typ, subject, dataContentType, dataSchema, time string
	traceParent, traceState                                                  string
}

// fast renders what the bridge writes, or says it cannot.
func (l *Liner) fast(h nats.Header, data []byte) (Line, bool) {
	a, ok := readAttrs(h)
	if !ok || a.specVersion != event.CloudEventsVersionV1 || a.id == "" || a.typ == "" ||
		a.dataContentType != event.ApplicationJSON || a.time == "" || len(data) == 0 {
		return Line{}, false
	}
	if l.iJSON(data) != nil {
		return Line{}, false // refused, with the reason, by the SDK path
	}
	t, err := types.ParseTime(a.time)
	// The SDK keeps no time at all for the zero instant.
	if err != nil || t.IsZero() || !l.sameURI(a.source, true) || (a.dataSchema != "" && !l.sameURI(a.dataSchema, false)) {
		return Line{}, false
	}
	b := make([]byte, 0, len(data)+len(a.id)+len(a.source)+len(a.typ)+len(a.subject)+len(a.dataSchema)+
		len(a.traceParent)+len(a.traceState)+192)
	b = append(b, `{"specversion":"1.0","id":`...)
	b = appendString(b, a.id)
	b = appendField(b, "source", a.source)
	b = appendField(b, "type", a.typ)
	b = appendField(b, "subject", a.subject)
	b = appendField(b, "datacontenttype", a.dataContentType)
	b = appendField(b, "dataschema", a.dataSchema)
	b = appendField(b, "time", types.FormatTime(t))
	b = append(b, `,"data":`...)
	if bytes.IndexByte(data, '\n') >= 0 || bytes.IndexByte(data, '\r') >= 0 {
		buf := bytes.NewBuffer(b)
		if json.Compact(buf, data) != nil {
			return Line{}, false
		}
		b = buf.Bytes()
	} else {
		b = append(b, data...)
	}
	b = appendField(b, "traceparent", a.traceParent)
	b = appendField(b, "tracestate", a.traceState)
	b = append(b, '}')
	return Line{JSON: b, ID: a.id, Time: t}, true
}

// readAttrs reads the headers the bridge writes. It refuses any other ce-
// header, a content-type header, more than one value, and any value that
// the binding's decoding would change or that holds a byte outside
// printable ASCII (which the bridge would have percent-encoded).
func readAttrs(h nats.Header) (attrs, bool) {
	var a attrs
	for k, vs := range h {
		var dst *string
		switch k {
		case keySpecVersion:
			dst = &a.specVersion
		case keyID:
			dst = &a.id
		case keySource:
			dst = &a.source
		case keyType:
			dst = &a.typ
		case keySubject:
			dst = &a.subject
		case keyTime:
			dst = &a.time
		case keyDataContentType:
			dst = &a.dataContentType
		case keyDataSchema:
			dst = &a.dataSchema
		case HeaderPrefix + "traceparent":
			dst = &a.traceParent
		case HeaderPrefix + "tracestate":
			dst = &a.traceState
		default:
			if len(k) >= len(HeaderPrefix) && strings.EqualFold(k[:len(HeaderPrefix)], HeaderPrefix) ||
				strings.EqualFold(k, "content-type") {
				return attrs{}, false
			}
			continue // not an attribute
		}
		if len(vs) != 1 || !plain(vs[0]) {
			return attrs{}, false
		}
		*dst = vs[0]
	}
	return a, true
}

// plain is a non-empty value that percent-decoding and unquoting leave as
// it is, within printable ASCII.
func plain(v string) bool {
	if v == "" || v[0] == '"' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c > 0x7e || c == '%' {
			return false
		}
	}
	return true
}

// sameURI says whether the SDK takes v and writes it back unchanged: as a
// source (a URI reference) or as a dataschema (an absolute URI).
func (l *Liner) sameURI(v string, ref bool) bool {
	key := uriKey{v, ref}
	l.mu.RLock()
	same, ok := l.uris[key]
	l.mu.RUnlock()
	if ok {
		return same
	}
	if ref {
		u := types.ParseURIRef(v)
		same = u != nil && u.String() == v
	} else {
		u := types.ParseURI(v)
		same = u != nil && u.Validate() && u.String() == v
	}
	l.mu.Lock()
	if l.uris == nil {
		l.uris = map[uriKey]bool{}
	}
	if len(l.uris) < maxURIs {
		l.uris[key] = same
	}
	l.mu.Unlock()
	return same
}

// appendField writes ,"name":"v" when v is set.
func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendString quotes a plain value as the SDK's JSON writer does: of the
// bytes a plain value may hold, only the quote and the backslash are
// escaped.
func appendString(b []byte, v string) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, v[i])
	}
	return append(b, '"')
}
