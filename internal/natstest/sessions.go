package natstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// SessionBody returns a webhook body for session i: known when known is
// set (a lead and a company), viewed on a day that varies with i.
func SessionBody(i int, known bool) []byte {
	lead, company := "null", "null"
	if known {
		lead = fmt.Sprintf(`{"id":"lead-%d","email":"lead%d@example.com","first_name":"Lee","last_name":"D%d"}`, i, i, i)
		company = `{"company_name":"Acme Inc","company_domain":"example.com"}`
	}
	viewed := time.Date(2024, 5, 17+i%3, 10, i%60, 0, 0, time.UTC).Format(time.RFC3339)
	return []byte(fmt.Sprintf(`{"id":"session-%d","buyer_reveal":%s,"lead":%s,"name":"Product Demo","viewed_at":%q,"completion":%d,"time_spent":%d}`,
		i, company, lead, viewed, i%101, 10+i))
}

// Publish stores a webhook body in the stream as the bridge would, and
// returns its event id.
func Publish(tb testing.TB, js jetstream.JetStream, stream broker.StreamConfig, raw []byte) string {
	tb.Helper()
	msg, err := SessionMsg(stream, raw)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := broker.NewPublisher(js, stream.Name).Publish(ctx, msg); err != nil {
		tb.Fatal(err)
	}
	return cloudevent.ID(raw)
}

// SessionMsg is the message the bridge stores for a webhook body: its
// CloudEvent headers, on the known or unknown subject. It returns an error
// rather than failing a test, for callers on other goroutines.
func SessionMsg(stream broker.StreamConfig, raw []byte) (*nats.Msg, error) {
	s, err := storylane.Parse(raw)
	if err != nil {
		return nil, err
	}
	return cloudevent.DefaultEncoder().Msg(stream.Subjects.Session(s.Known()), s.Summary(), raw, time.Now()), nil
}
