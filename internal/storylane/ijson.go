package storylane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// ErrNotIJSON reports valid JSON that is not I-JSON (RFC 7493), which
// readers may read differently from the bridge: invalid UTF-8, a surrogate
// or noncharacter code point in a string (raw or escaped), a member name
// given twice in one object, nesting deeper than MaxDepth, or a number past
// the range of an IEEE 754 double (RFC 7493 §2.2).
var ErrNotIJSON = errors.New("not I-JSON (RFC 7493)")

// MaxDepth bounds nesting, counting the outermost object or array as 1:
// System.Text.Json's default bound, well within Python's recursion limit;
// Storylane's payloads are 3 deep.
const MaxDepth = 64

var errDeep = fmt.Errorf("nested deeper than %d levels", MaxDepth)

// maxNameInReason bounds the member name quoted in a reason.
const maxNameInReason = 64

// checkText checks the strings of raw, a valid JSON text, in one pass: valid
// UTF-8, and no surrogate or noncharacter, raw or escaped (RFC 7493 §2.1).
// In valid JSON a backslash only starts an escape inside a string, and
// bytes past ASCII only occur inside strings.
func checkText(raw []byte) error {
	for i := 0; i < len(raw); {
		i += plainASCII(raw[i:])
		if i == len(raw) {
			break
		}
		c := raw[i]
		switch {
		case c == '\\':
			r, n := escaped(raw[i:])
			if r < 0 {
				return fmt.Errorf("lone surrogate %s at byte %d", raw[i:i+6], i)
			}
			if noncharacter(r) {
				return fmt.Errorf("noncharacter U+%04X at byte %d", r, i)
			}
			i += n
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				return fmt.Errorf("invalid UTF-8 at byte %d", i)
			}
			if noncharacter(r) {
				return fmt.Errorf("noncharacter U+%04X at byte %d", r, i)
			}
			i += size
		}
	}
	return nil
}

// plainASCII is how many leading bytes of b, eight at a time, are ASCII
// other than a backslash: most of a payload, with nothing to check.
func plainASCII(b []byte) int {
	const ones, highs, backslashes = 0x0101010101010101, 0x8080808080808080, '\\' * 0x0101010101010101
	n := 0
	for ; len(b)-n >= 8; n += 8 {
		x := binary.LittleEndian.Uint64(b[n:])
		y := x ^ backslashes // a backslash becomes a zero byte
		if x&highs != 0 || (y-ones)&^y&highs != 0 {
			break
		}
	}
	return n
}

// escaped reads the escape at the start of b: the code point of a \u escape
// (of both halves of a surrogate pair), with the bytes it takes. A
// surrogate that is not half of a pair reads as -1, taking 6 bytes; other
// escapes read as 0, taking 2.
func escaped(b []byte) (rune, int) {
	if b[1] != 'u' {
		return 0, 2
	}
	r := hex4(b[2:])
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		if pair := utf16.DecodeRune(r, hex4(b[8:])); pair != utf8.RuneError {
			return pair, 12
		}
	}
	return -1, 6
}

// noncharacter reports the 66 code points Unicode reserves as never
// interchanged: U+FDD0 to U+FDEF, and the last two of every plane.
func noncharacter(r rune) bool {
	return (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
}

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

// checkTree checks the parsed value v, at depth depth, for nesting and for
// names given twice (RFC 7493 §2.3), as fastjson keeps every occurrence.
func checkTree(v *fastjson.Value, depth int) error {
	switch v.Type() {
	case fastjson.TypeObject:
		if depth > MaxDepth {
			return errDeep
		}
		o, _ := v.Object()
		if err := uniqueNames(o); err != nil {
			return err
		}
		var err error
		o.Visit(func(_ []byte, f *fastjson.Value) {
			if err == nil {
				err = checkTree(f, depth+1)
			}
		})
		return err
	case fastjson.TypeArray:
		if depth > MaxDepth {
			return errDeep
		}
		for _, e := range v.GetArray() {
			if err := checkTree(e, depth+1); err != nil {
				return err
			}
		}
	case fastjson.TypeNumber:
		return checkNumber(v)
	}
	return nil
}

// checkNumber refuses a number a double cannot hold, such as 1e400: Python
// reads it as infinity, Go's encoding/json and most typed readers refuse
// it. It reads the number as encoding/json does, with strconv.
func checkNumber(v *fastjson.Value) error {
	var buf [32]byte
	text := v.MarshalTo(buf[:0])
	if _, err := strconv.ParseFloat(string(text), 64); err != nil {
		return fmt.Errorf("number %.32s out of the range of a double", text)
	}
	return nil
}

// smallObject is the most members compared pair by pair, which for the
// few names of a session is cheaper than a map.
const smallObject = 16

// uniqueNames reports a member name o holds twice. fastjson compares the
// names unescaped, as every reader does: "a" and "\u0061" are the same.
func uniqueNames(o *fastjson.Object) error {
	n := o.Len()
	if n < 2 {
		return nil
	}
	var dup []byte
	if n <= smallObject {
		var names [smallObject][]byte
		i := 0
		o.Visit(func(k []byte, _ *fastjson.Value) {
			for _, seen := range names[:i] {
				if dup == nil && string(seen) == string(k) {
					dup = k
				}
			}
			names[i] = k
			i++
		})
	} else {
		seen := make(map[string]struct{}, n)
		o.Visit(func(k []byte, _ *fastjson.Value) {
			if _, ok := seen[string(k)]; ok && dup == nil {
				dup = k
			}
			seen[string(k)] = struct{}{}
		})
	}
	if dup == nil {
		return nil
	}
	if len(dup) > maxNameInReason {
		return fmt.Errorf("member name %q… given twice in one object", dup[:maxNameInReason])
	}
	return fmt.Errorf("member name %q given twice in one object", dup)
}
