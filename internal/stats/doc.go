// Package stats keeps the aggregates session-stats serves: per day and per
// demo, sessions, known and unknown, completion, time spent, checklist and
// CTA rates; per campaign (utm_source, utm_medium, utm_campaign) sessions
// and known sessions; per revealed company its sessions and last visit.
// It keeps counts, never events, and never a lead's e-mail or name.
//
// The day of a session is the UTC date of its viewed_at; when viewed_at is
// missing, unreadable or outside the years 2000-2100 (a placeholder), it is
// the UTC date the stream stored the event, as session-archive files it.
//
// Each event counts once, by its id (an 8-byte hash of it, see seenSet),
// however often it is delivered or replayed. The package is pure: no I/O
// beyond the io.Writer and io.Reader of Encode and Decode, no NATS.
package stats
