package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// The stats step's dataset, BenchmarkMillion's (internal/stats): 100 demos,
// 1,000 campaigns, sessions over 90 days, a third with a revealed company
// (one of 5,000), half of those with a lead as well.
const (
	statsDemos     = 100
	statsCampaigns = 1000
	statsDays      = 90
	statsCompanies = 5000
)

var statsStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// sessionBody is webhook body number i of the stats step, as Storylane
// sends one; r decides demo, campaign, time and company.
func sessionBody(i int, r *rand.Rand) []byte {
	d := r.IntN(statsDemos)
	viewed := statsStart.Add(time.Duration(r.IntN(statsDays*86400)) * time.Second).Format("2006-01-02T15:04:05.000+00:00")
	c := r.IntN(statsCampaigns)
	company, lead := "null", "null"
	if i%3 == 0 {
		co := r.IntN(statsCompanies)
		company = fmt.Sprintf(`{"company_name":"Co %d","company_domain":"co%d.example","company_annual_revenue_range":"1M-10M","company_employee_range":"11-50"}`, co, co)
		if i%6 == 0 {
			lead = fmt.Sprintf(`{"id":"lead-%d","client_source":"form","client_tracking_id":null,"email":"visitor%d@example.com","first_name":"Sam","last_name":"Doe"}`, i, i)
		}
	}
	cta := ""
	if i%2 == 1 {
		cta = "Book a call"
	}
	return fmt.Appendf(nil, `{"id":"bench-%d","buyer_reveal":%s,"lead":%s,"name":"Demo %d","link":"https://app.storylane.io/share/demo%d","viewed_at":%q,"completion":%d,"time_spent":%d,"checklist_completed":%t,"cta_opened":%q,"analytics_url":"https://app.storylane.io/analytics/activity/bench-%d","utm_params":{"utm_source":"src%d","utm_medium":"cpc","utm_campaign":"c%d"}}`,
		i, company, lead, d, d, viewed, i%101, i%600, i%4 == 0, cta, i, c%10, c)
}

// publishWindow bounds the acknowledgements outstanding while storing.
const publishWindow = 4096

// storeSessions stores n sessions in the stream at url, each as the bridge
// stores it (the CloudEvent headers of internal/cloudevent's Encoder, the
// body byte for byte), publishing asynchronously with at most
// publishWindow acknowledgements outstanding.
func storeSessions(ctx context.Context, url string, n int) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishWindow+1), jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		return err
	}
	enc, subjects := cloudevent.DefaultEncoder(), broker.Subjects{Prefix: broker.DefaultSubjectPrefix}
	r := rand.New(rand.NewPCG(1, 2))
	acks := make([]jetstream.PubAckFuture, publishWindow)
	for i := range n {
		if err := awaitAck(ctx, acks[i%publishWindow]); err != nil {
			return fmt.Errorf("event %d: %w", i-publishWindow, err)
		}
		body := sessionBody(i, r)
		s, err := storylane.Parse(body)
		if err != nil {
			return fmt.Errorf("body %d: %w", i, err)
		}
		msg := enc.Msg(subjects.Session(s.Known()), s.Summary(), body, time.Now())
		if acks[i%publishWindow], err = js.PublishMsgAsync(msg); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
	}
	for _, f := range acks {
		if err := awaitAck(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

func awaitAck(ctx context.Context, f jetstream.PubAckFuture) error {
	if f == nil {
		return nil
	}
	select {
	case ack := <-f.Ok():
		if ack.Duplicate {
			return fmt.Errorf("stored before: %s", f.Msg().Header.Get(jetstream.MsgIDHeader))
		}
		return nil
	case err := <-f.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
