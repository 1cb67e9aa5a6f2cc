package main

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func formatEvent(format string, e consume.Event) (string, error) {
	if format == "json" {
		line, err := cloudevent.JSONLine(e.CloudEvent)
		return string(line), err
	}
	return textLine(e), nil
}

// textColumns lays out the header and each readable line alike.
const textColumns = "%-20s  %-7s  %-24s  %5s  %6s  %s"

// header names the columns of the text format. The time is the event's,
// the session's viewed_at when it has one.
func header() string {
	return fmt.Sprintf(textColumns, "VIEWED (UTC)", "TYPE", "DEMO", "DONE", "SPENT", "COMPANY / LEAD")
}

// textLine is one readable line per session. It names the lead but never
// shows their e-mail address: a terminal is shared more easily than a CRM.
func textLine(e consume.Event) string {
	s := e.Session
	kind := "unknown"
	if s.Known() {
		kind = "known"
	}
	return printable(fmt.Sprintf(textColumns,
		e.CloudEvent.Time().UTC().Format(time.RFC3339), kind, orDash(s.Name), percent(s), seconds(s), who(s)))
}

// printable escapes, Go-style (\x1b, \u202e), every character that would
// drive the terminal rather than show: demo, company and lead names come
// from forms anyone can fill in. That is control characters (Cc: ESC, BEL,
// CR, NEL), format characters (Cf: the bidi embeddings, overrides and
// isolates U+202A–U+202E and U+2066–U+2069, the marks U+200E/U+200F and
// U+061C, zero-width and tag characters) and the line and paragraph
// separators (Zl, Zp). They are escaped, not dropped, so that a reader sees
// the name was tampered with; a backslash is doubled, so that an escape in
// the payload's own text cannot pass for one. Invalid UTF-8 shows as U+FFFD.
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, escaped) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case !escaped(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

// escaped is a character printable escapes, or a backslash.
func escaped(r rune) bool {
	return r == '\\' || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

func percent(s storylane.Session) string {
	if s.Completion == "" {
		return "-"
	}
	return string(s.Completion) + "%"
}

func seconds(s storylane.Session) string {
	if s.TimeSpent == "" {
		return "-"
	}
	return string(s.TimeSpent) + "s"
}

func who(s storylane.Session) string {
	company, lead := "-", "-"
	if s.BuyerReveal != nil {
		company = orDash(firstOf(s.BuyerReveal.CompanyName, s.BuyerReveal.CompanyDomain))
	}
	if s.Lead != nil {
		lead = orDash(strings.TrimSpace(s.Lead.FirstName + " " + s.Lead.LastName))
		if lead == "-" && s.Lead.ID != "" {
			lead = "lead " + s.Lead.ID
		}
	}
	return company + " / " + lead
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func orDash(v string) string {
	if v == "" {
		return "-"
	}
	return v
}
