package main

import (
	"fmt"
	"strings"
	"time"
	"unicode"

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

// textLine is one readable line per session. It names the lead but never
// shows their e-mail address: a terminal is shared more easily than a CRM.
func textLine(e consume.Event) string {
	s := e.Session
	kind := "unknown"
	if s.Known() {
		kind = "known"
	}
	return printable(fmt.Sprintf("%s  %-7s  %-24s  %5s  %6s  %s",
		e.CloudEvent.Time().UTC().Format(time.RFC3339), kind, orDash(s.Name), percent(s), seconds(s), who(s)))
}

// printable drops control characters: demo, company and lead names come
// from forms anyone can fill in, and must not drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
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
