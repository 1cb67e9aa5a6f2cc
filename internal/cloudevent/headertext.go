package cloudevent

import (
	"strconv"
	"strings"
)

// MaxHeaderText bounds a HeaderText value, in bytes, before the "..." that
// marks a cut.
const MaxHeaderText = 1024

// HeaderText makes free text, such as a reason part of which comes from a
// payload, fit a NATS header value: printable ASCII on one line, bounded.
// Control characters become spaces, other characters past ASCII are
// escaped as \uXXXX (so a cut never splits one), and text longer than
// MaxHeaderText is cut and ends in "...".
func HeaderText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= MaxHeaderText {
			b.WriteString("...") // some of s is left
			break
		}
		switch {
		case r < ' ' || r == 0x7f:
			b.WriteByte(' ')
		case r > 0x7e:
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
