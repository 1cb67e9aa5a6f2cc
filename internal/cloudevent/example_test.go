package cloudevent_test

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
)

// A stored message is a CloudEvent in the binary mode of the NATS binding:
// each attribute is a percent-encoded ce- header and the data is the
// webhook body, byte for byte. FromMsg decodes the headers and validates
// the event.
func ExampleFromMsg() {
	body := []byte(`{"id":"s 1","lead":{"email":"a@example.com"},"viewed_at":"2024-05-17T10:58:05.337+00:00"}`)
	msg := &nats.Msg{Subject: "storylane.session.known", Data: body, Header: nats.Header{
		"ce-specversion":     {"1.0"},
		"ce-id":              {cloudevent.ID(body)},
		"ce-source":          {"https://app.storylane.io"},
		"ce-type":            {"storylane.session.known"},
		"ce-subject":         {"s%201"}, // the session id, percent-encoded
		"ce-time":            {"2024-05-17T10:58:05.337Z"},
		"ce-datacontenttype": {"application/json"},
		"ce-dataschema":      {"https://github.com/storylane-bridge/storylane-bridge/schemas/storylane-session.schema.json"},
		"Nats-Msg-Id":        {cloudevent.ID(body)},
	}}

	e, err := cloudevent.FromMsg(msg)
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Type())
	fmt.Printf("subject %q\n", e.Subject())
	fmt.Println(e.Time())
	fmt.Println(e.ID() == cloudevent.ID(body))
	fmt.Println(string(e.Data()))
	// Output:
	// storylane.session.known
	// subject "s 1"
	// 2024-05-17 10:58:05.337 +0000 UTC
	// true
	// {"id":"s 1","lead":{"email":"a@example.com"},"viewed_at":"2024-05-17T10:58:05.337+00:00"}
}
