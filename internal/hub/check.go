package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrUnhealthy reports a check that found a source not flowing.
var ErrUnhealthy = errors.New("hub sources not healthy")

// EdgeStatus is what Check found of one edge's source.
type EdgeStatus struct {
	Edge     string `json:"edge"`
	Declared bool   `json:"declared"`
	// Active is whether the source heard from the edge (an event or the
	// HUB consumer's 1 s heartbeat) within the allowed silence.
	Active bool `json:"active"`
	// Silent is the time since it last did; -1 never (its first consumer
	// reset got no answer) or not declared.
	Silent time.Duration `json:"-"`
	// SilentSeconds is Silent in seconds, for JSON.
	SilentSeconds float64 `json:"silent_seconds"`
	// Lag is the hub's count of events still to source. It reads 0 while
	// the edge is cut off: the edge's own backlog is the truth then.
	Lag         uint64 `json:"lag"`
	SourceError string `json:"source_error,omitempty"`
	Answers     bool   `json:"answers"`
	AnswerError string `json:"answer_error,omitempty"`
	Healthy     bool   `json:"healthy"`
	Problem     string `json:"problem,omitempty"`
}

// Report is what Check found.
type Report struct {
	Stream          string        `json:"stream"`
	Exists          bool          `json:"exists"`
	DuplicateWindow time.Duration `json:"-"`
	Window          string        `json:"duplicate_window"`   // DuplicateWindow, for JSON
	Problems        []string      `json:"problems,omitempty"` // the stream's own
	Edges           []EdgeStatus  `json:"edges"`
	Healthy         bool          `json:"healthy"`
}

// Check reports, for each edge of cfg.Edges, or of every edge source the
// stream declares when none is given, whether its source is declared,
// active within maxSilence, how far behind it is, and whether the edge
// answers through the hub.
func Check(ctx context.Context, js jetstream.JetStream, cfg Config, maxSilence time.Duration) (Report, error) {
	r := Report{Stream: cfg.Stream}
	info, err := streamInfo(ctx, js, cfg.Stream)
	if err != nil {
		return r, err
	}
	edges := cfg.Edges
	infos := map[string]*jetstream.StreamSourceInfo{}
	if info != nil {
		r.Exists, r.DuplicateWindow, r.Window = true, info.Config.Duplicates, info.Config.Duplicates.String()
		r.Problems = streamProblems(info.Config)
		for _, si := range info.Sources {
			if e := sourceEdge(si); e != "" {
				infos[e] = si
			}
		}
		if len(edges) == 0 {
			edges = declaredEdges(info.Config.Sources)
		}
	} else {
		r.Problems = []string{"stream " + cfg.Stream + " does not exist: run storylane-hub without --check to create it"}
	}
	silent := waitAll(ctx, js, cfg, edges) // together: a probe must not take a timeout per edge down
	for _, e := range slices.Sorted(slices.Values(edges)) {
		st := edgeStatus(e, infos[e], maxSilence)
		if err := silent[e]; err != nil {
			st.AnswerError = err.Error()
		} else {
			st.Answers = true
		}
		st.Healthy, st.Problem = judge(st, maxSilence)
		r.Edges = append(r.Edges, st)
	}
	r.Healthy = len(r.Problems) == 0 && !slices.ContainsFunc(r.Edges, func(s EdgeStatus) bool { return !s.Healthy })
	return r, nil
}

func streamInfo(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", name, err)
	}
	return s.CachedInfo(), nil
}

func streamProblems(sc jetstream.StreamConfig) []string {
	var p []string
	if sc.Duplicates <= 0 {
		p = append(p, "no duplicate window: a webhook sent to two edges is stored twice; run storylane-hub with --duplicate-window")
	}
	for _, s := range sharedDeliverSubjects(sc.Sources) {
		p = append(p, "several sources deliver to "+s+": they split the edge's events and the edge deletes what either acknowledged")
	}
	return p
}

// sourceEdge is the edge a source info is of, by its API prefix.
func sourceEdge(si *jetstream.StreamSourceInfo) string {
	if si.External == nil {
		return ""
	}
	return edgeOfAPI(si.External.APIPrefix)
}

func declaredEdges(sources []*jetstream.StreamSource) []string {
	var edges []string
	for _, s := range sources {
		if s.External != nil {
			if e := edgeOfAPI(s.External.APIPrefix); e != "" {
				edges = append(edges, e)
			}
		}
	}
	return edges
}

func edgeStatus(edge string, si *jetstream.StreamSourceInfo, maxSilence time.Duration) EdgeStatus {
	st := EdgeStatus{Edge: edge, Silent: -1, SilentSeconds: -1}
	if si == nil {
		return st
	}
	st.Declared, st.Lag = true, si.Lag
	if si.Active >= 0 {
		st.Silent = si.Active
	}
	st.SilentSeconds = st.Silent.Seconds()
	st.Active = st.Silent >= 0 && st.Silent <= maxSilence
	if si.Error != nil {
		st.SourceError = si.Error.Error()
	}
	return st
}

// judge says whether an edge's source is healthy, and if not the first
// thing an operator should look at.
func judge(st EdgeStatus, maxSilence time.Duration) (bool, string) {
	switch {
	case !st.Declared:
		return false, "no source declared: run storylane-hub --edges " + st.Edge + " once the edge is up"
	case st.SourceError != "":
		return false, "source error: " + st.SourceError
	case st.Silent < 0:
		return false, "the source has never heard from the edge: its consumer reset got no answer (the edge is down or not linked, or the hub restarted and has not reached it since)"
	case !st.Answers:
		return false, "the edge's HUB consumer does not answer through the hub (edge down or leaf link cut); its backlog is on the edge"
	case !st.Active:
		return false, fmt.Sprintf("the source has not heard from the edge for %s (more than %s)", st.Silent.Round(time.Millisecond), maxSilence)
	}
	return true, ""
}
