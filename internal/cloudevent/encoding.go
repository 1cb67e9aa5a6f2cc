package cloudevent

import (
	"errors"
	"strings"
	"unicode/utf8"
)

const upperHex = "0123456789ABCDEF"

// EncodeValue percent-encodes an attribute value for a NATS header, as
// section 3.1.3.2 of the CloudEvents NATS binding requires: space, double
// quote, percent and every byte outside printable ASCII become %XY, with
// upper-case hex. Working on UTF-8 bytes encodes each non-ASCII character as
// the percent-encoding of its UTF-8 sequence, which is what the binding asks.
func EncodeValue(v string) string {
	n := 0
	for i := 0; i < len(v); i++ {
		if mustEscape(v[i]) {
			n++
		}
	}
	if n == 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 2*n)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if mustEscape(c) {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xF])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func mustEscape(c byte) bool {
	return c <= ' ' || c >= 0x7F || c == '"' || c == '%'
}

// DecodeValue reverses EncodeValue as a receiver must: a double-quoted value
// (RFC 7230 quoted-string, from older versions of the binding) is unquoted
// first, then one round of percent-decoding accepts either hex case, and a
// result that is not valid UTF-8 (an overlong sequence, say) is refused.
func DecodeValue(v string) (string, error) {
	if strings.HasPrefix(v, `"`) {
		u, err := unquote(v)
		if err != nil {
			return "", err
		}
		v = u
	}
	if !strings.Contains(v, "%") {
		if !utf8.ValidString(v) {
			return "", errors.New("not valid UTF-8")
		}
		return v, nil
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			out = append(out, v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", errors.New("truncated percent-encoding")
		}
		hi, ok1 := unhex(v[i+1])
		lo, ok2 := unhex(v[i+2])
		if !ok1 || !ok2 {
			return "", errors.New("invalid percent-encoding")
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	if !utf8.Valid(out) {
		return "", errors.New("percent-encoding is not valid UTF-8")
	}
	return string(out), nil
}

// unquote reads an RFC 7230 quoted-string that makes up the whole value.
func unquote(v string) (string, error) {
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", errors.New("unterminated quoted string")
	}
	inner := v[1 : len(v)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		switch c := inner[i]; c {
		case '\\':
			if i+1 == len(inner) {
				return "", errors.New("dangling escape in quoted string")
			}
			i++
			b.WriteByte(inner[i])
		case '"':
			return "", errors.New("unescaped quote in quoted string")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
