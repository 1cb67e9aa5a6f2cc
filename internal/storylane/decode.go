package storylane

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Decode checks that raw is one JSON value and parses it with p, reading it
// exactly as encoding/json (and so the schema validator) would. The value
// lives in p: it is good until p parses again or goes back to its pool.
//
// fastjson parses without building a generic tree, but its parser is
// lenient, so the text is checked first, as encoding/json checks it
// (ValidJSON). On its own fastjson also reads two
// things differently: it keeps invalid UTF-8 bytes where encoding/json
// reads U+FFFD, and it guesses at an escaped lone UTF-16 surrogate where
// encoding/json reads U+FFFD. Such a payload is parsed from a copy in which
// those are spelled \ufffd, so both read alike; raw is never changed.
// Fuzzing holds Decode to encoding/json. Valid JSON nested deeper than
// fastjson goes gives ErrDeep; ParseWith then reads it with encoding/json.
func Decode(p *fastjson.Parser, raw []byte) (*fastjson.Value, error) {
	if !ValidJSON(raw) {
		return nil, errors.New("not JSON")
	}
	text := raw
	if needsRewrite(raw) {
		text = rewrite(raw)
	}
	v, err := p.ParseBytes(text)
	if err != nil {
		// Valid JSON, so fastjson's depth limit: its error repeats one
		// line per level, so it is not passed on.
		return nil, ErrDeep
	}
	return v, nil
}

const replacement = `\ufffd`

// needsRewrite reports whether raw holds invalid UTF-8 or an escaped
// surrogate, the rare cases where fastjson and encoding/json part ways.
func needsRewrite(raw []byte) bool {
	if !utf8.Valid(raw) {
		return true
	}
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] == '\\' {
			if raw[i+1] == 'u' && i+5 < len(raw) && isSurrogate(raw[i+2:i+6]) {
				return true
			}
			i++ // skip the escaped character, which may be a backslash
		}
	}
	return false
}

// rewrite spells as \ufffd every invalid UTF-8 byte and every escaped
// surrogate that is not half of a valid pair, the way encoding/json's
// unquote reads them. raw is valid JSON, so a backslash only ever starts an
// escape inside a string, and invalid bytes only occur inside strings.
func rewrite(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+16)
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\' && raw[i+1] == 'u' && isSurrogate(raw[i+2:i+6]):
			if i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' &&
				utf16.DecodeRune(hex4(raw[i+2:i+6]), hex4(raw[i+8:i+12])) != utf8.RuneError {
				out = append(out, raw[i:i+12]...)
				i += 12
				continue
			}
			out = append(out, replacement...)
			i += 6
		case c == '\\':
			out = append(out, raw[i:i+2]...)
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				out = append(out, replacement...)
			} else {
				out = append(out, raw[i:i+size]...)
			}
			i += size
		}
	}
	return out
}

func isSurrogate(h []byte) bool { return utf16.IsSurrogate(hex4(h)) }

// hex4 reads four hex digits, or returns -1; ValidJSON has checked them.
func hex4(h []byte) rune {
	if len(h) < 4 {
		return -1
	}
	var r rune
	for _, c := range h[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
