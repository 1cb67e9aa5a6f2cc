package broker

import (
	"fmt"
	"strings"
)

// DefaultSubjectPrefix is the first token of every subject in the stream.
const DefaultSubjectPrefix = "storylane"

// Subjects names the subjects of the stream under one prefix; the prefix
// lets several environments share one NATS account.
type Subjects struct {
	Prefix string
}

// Session is the subject of a known or an unknown session.
func (s Subjects) Session(known bool) string {
	if known {
		return s.Prefix + ".session.known"
	}
	return s.Prefix + ".session.unknown"
}

// Invalid is the subject of signed payloads that failed validation.
func (s Subjects) Invalid() string { return s.Prefix + ".invalid" }

// DeadLetter is the subject where a consumer parks what it cannot process.
func (s Subjects) DeadLetter(consumer string) string { return s.Prefix + ".dlq." + consumer }

// All matches every subject under the prefix, the stream's subject filter.
func (s Subjects) All() string { return s.Prefix + ".>" }

// Validate checks that the prefix is one or more literal subject tokens.
func (s Subjects) Validate() error {
	if s.Prefix == "" {
		return fmt.Errorf("subject prefix is empty")
	}
	for _, tok := range strings.Split(s.Prefix, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("subject prefix %q: tokens must be literal, non-empty and without spaces", s.Prefix)
		}
	}
	return nil
}
