// Package jsontest reads JSON as the strictest downstream readers do, for
// tests to hold the bridge and its consumers to. It is written on
// encoding/json alone, apart from the code it checks.
package jsontest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting Strict takes, the outermost object or
// array counting as 1.
const MaxDepth = 64

// frame is an open object or array.
type frame struct {
	names    map[string]bool // nil for an array
	wantName bool
}

// Strict returns nil when raw is one I-JSON text (RFC 7493): valid JSON
// and valid UTF-8, no surrogate or noncharacter code point in a string,
// raw or escaped, no member name twice in one object, and nesting no deeper
// than MaxDepth. Otherwise it says why.
func Strict(raw []byte) error {
	if !json.Valid(raw) {
		return errors.New("not JSON")
	}
	if !utf8.Valid(raw) {
		return errors.New("invalid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	var stack []*frame
	var prev int64
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		off := d.InputOffset()
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				f := &frame{}
				if t == '{' {
					f.names, f.wantName = map[string]bool{}, true
				}
				if stack = append(stack, f); len(stack) > MaxDepth {
					return fmt.Errorf("deeper than %d", MaxDepth)
				}
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].names != nil {
					stack[len(stack)-1].wantName = true
				}
			}
		case string:
			if err := strictString(raw[prev:off], t); err != nil {
				return err
			}
			switch {
			case top != nil && top.wantName:
				if top.names[t] {
					return fmt.Errorf("name %q twice", t)
				}
				top.names[t], top.wantName = true, false
			case top != nil && top.names != nil:
				top.wantName = true
			}
		default:
			if top != nil && top.names != nil {
				top.wantName = true
			}
		}
		prev = off
	}
}

// strictString checks a string token: text is the input it was read from
// (separators, then the quoted string), s what encoding/json read.
// encoding/json reads a lone surrogate escape as U+FFFD, so a U+FFFD read
// that the text does not spell, raw or as \ufffd, was one.
func strictString(text []byte, s string) error {
	for _, r := range s {
		if (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE {
			return fmt.Errorf("noncharacter %U", r)
		}
	}
	spelled := bytes.Count(text, []byte("\uFFFD"))
	for i := 0; i < len(text); i++ {
		if text[i] != '\\' {
			continue
		}
		if i+6 <= len(text) && bytes.EqualFold(text[i+1:i+6], []byte("ufffd")) {
			spelled++
		}
		i++ // the escaped character, which may be a backslash
	}
	if read := bytes.Count([]byte(s), []byte("\uFFFD")); read != spelled {
		return errors.New("lone surrogate")
	}
	return nil
}
