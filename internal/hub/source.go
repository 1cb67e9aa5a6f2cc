// Package hub is what storylane-hub does on the hub cluster of edge mode:
// it creates the hub's stream, declares one durable source per edge, only
// once that edge answers, and reports whether each source is flowing.
package hub

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// Source is the hub's durable source of the named edge's stream (ADR-60):
// through the edge's JetStream domain, by the HUB consumer the edge
// created, on the deliver subject unique to the edge. Its filter,
// transforms and external prefix are its identity on the hub: any other
// declaration of the same edge is a new source that re-sources the edge's
// whole history.
func Source(stream, edge string) *jetstream.StreamSource {
	return &jetstream.StreamSource{Name: stream,
		External: &jetstream.ExternalStream{APIPrefix: edgeAPI(edge)},
		Consumer: &jetstream.StreamConsumerSource{Name: broker.HubConsumer, DeliverSubject: broker.EdgeDeliverSubject(edge, stream)}}
}

func edgeAPI(edge string) string { return "$JS." + broker.EdgeDomain(edge) + ".API" }

// edgeOfAPI is the edge whose API prefix api is, or "" for a source that is
// not an edge's.
func edgeOfAPI(api string) string {
	name, ok := strings.CutPrefix(api, "$JS."+broker.EdgeDomain(""))
	if !ok {
		return ""
	}
	name, ok = strings.CutSuffix(name, ".API")
	if !ok || broker.ValidateEdgeName(name) != nil {
		return ""
	}
	return name
}

// owns reports whether s is a declaration of edge's source, by its API
// prefix or by its deliver subject: either way, adding another would
// source the edge twice or split its deliveries.
func owns(s *jetstream.StreamSource, stream, edge string) bool {
	return (s.External != nil && s.External.APIPrefix == edgeAPI(edge)) ||
		(s.Consumer != nil && s.Consumer.DeliverSubject == broker.EdgeDeliverSubject(edge, stream))
}

// sameSource reports whether got is want as the hub stores it.
func sameSource(got, want *jetstream.StreamSource) bool {
	return got.Name == want.Name && got.FilterSubject == "" && len(got.SubjectTransforms) == 0 &&
		got.OptStartSeq == 0 && got.OptStartTime == nil &&
		got.External != nil && got.External.APIPrefix == want.External.APIPrefix && got.External.DeliverPrefix == "" &&
		got.Consumer != nil && got.Consumer.Name == want.Consumer.Name && got.Consumer.DeliverSubject == want.Consumer.DeliverSubject
}

// describe is a source as an operator compares it with Source.
func describe(s *jetstream.StreamSource) string {
	var b strings.Builder
	fmt.Fprintf(&b, "stream %s", s.Name)
	if s.External != nil {
		fmt.Fprintf(&b, ", api %s", s.External.APIPrefix)
		if s.External.DeliverPrefix != "" {
			fmt.Fprintf(&b, ", deliver prefix %s", s.External.DeliverPrefix)
		}
	}
	if s.Consumer != nil {
		fmt.Fprintf(&b, ", consumer %s delivering to %s", s.Consumer.Name, s.Consumer.DeliverSubject)
	} else {
		b.WriteString(", no durable consumer (classic sourcing)")
	}
	if s.FilterSubject != "" {
		fmt.Fprintf(&b, ", filter %s", s.FilterSubject)
	}
	if len(s.SubjectTransforms) > 0 {
		fmt.Fprintf(&b, ", %d subject transforms", len(s.SubjectTransforms))
	}
	if s.OptStartSeq != 0 || s.OptStartTime != nil {
		b.WriteString(", a start position")
	}
	return b.String()
}

// sharedDeliverSubjects lists the deliver subjects more than one source
// uses: two sources on one subject each take part of the other's events,
// and the edges delete what either acknowledged.
func sharedDeliverSubjects(sources []*jetstream.StreamSource) []string {
	seen := map[string]int{}
	var shared []string
	for _, s := range sources {
		if s.Consumer == nil || s.Consumer.DeliverSubject == "" {
			continue
		}
		if seen[s.Consumer.DeliverSubject]++; seen[s.Consumer.DeliverSubject] == 2 {
			shared = append(shared, s.Consumer.DeliverSubject)
		}
	}
	return shared
}
