package storylane

import (
	"encoding/binary"
	"encoding/json"

	"github.com/valyala/fastjson"
)

// maxFastValid is the longest data ValidJSON leaves to fastjson: nesting
// deeper than encoding/json allows (10000) takes more bytes than this.
const maxFastValid = 10000

// ValidJSON is json.Valid in about half the time. fastjson's validator
// reads JSON as encoding/json does (FuzzValidJSON holds it to that) but
// for two things: it lets a control character before an escape into a
// string, and it has no limit on nesting. Data with a control character,
// or long enough to nest that deep, is left to encoding/json.
func ValidJSON(b []byte) bool {
	if len(b) > maxFastValid || hasControl(b) {
		return json.Valid(b)
	}
	return fastjson.ValidateBytes(b) == nil
}

// hasControl says whether b holds a byte below 0x20, eight at a time.
func hasControl(b []byte) bool {
	const ones, highs, spaces = 0x0101010101010101, 0x8080808080808080, 0x20 * 0x0101010101010101
	for ; len(b) >= 8; b = b[8:] {
		x := binary.LittleEndian.Uint64(b)
		// A byte below 0x20 borrows into its high bit when 0x20 is taken
		// away; a byte whose high bit was set already is not one.
		if (x-spaces)&^x&highs != 0 {
			return true
		}
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}
