package hub

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestApplyKeepsWhatWasNotGiven: a run without --stream-replicas or
// placement (to add an edge, say) keeps an existing stream's, and a new
// stream gets R1 and no placement; given, they apply. The window always
// applies: it is required.
func TestApplyKeepsWhatWasNotGiven(t *testing.T) {
	r3 := jetstream.StreamConfig{Replicas: 3, Duplicates: time.Hour, Placement: &jetstream.Placement{Cluster: "east"}}
	for _, tc := range []struct {
		name   string
		cfg    Config
		exists bool
		want   jetstream.StreamConfig
	}{
		{"existing, nothing given", Config{Duplicates: 2 * time.Hour}, true,
			jetstream.StreamConfig{Replicas: 3, Duplicates: 2 * time.Hour, Placement: &jetstream.Placement{Cluster: "east"}}},
		{"existing, given", Config{Duplicates: time.Hour, Replicas: 5, PlacementTags: []string{"ssd"}}, true,
			jetstream.StreamConfig{Replicas: 5, Duplicates: time.Hour, Placement: &jetstream.Placement{Tags: []string{"ssd"}}}},
		{"new, nothing given", Config{Duplicates: time.Hour}, false, jetstream.StreamConfig{Replicas: 1, Duplicates: time.Hour}},
	} {
		sc := jetstream.StreamConfig{}
		if tc.exists {
			sc = r3
			sc.Placement = &jetstream.Placement{Cluster: r3.Placement.Cluster}
		}
		apply(&sc, tc.cfg, tc.exists)
		if sc.Replicas != tc.want.Replicas || sc.Duplicates != tc.want.Duplicates || !samePlacement(sc.Placement, tc.want.Placement) {
			t.Errorf("%s: apply() = R%d, window %s, placement %+v, want R%d, %s, %+v", tc.name,
				sc.Replicas, sc.Duplicates, sc.Placement, tc.want.Replicas, tc.want.Duplicates, tc.want.Placement)
		}
	}
}
