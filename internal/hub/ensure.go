package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/usage"
)

// Config is the hub's stream and the edges it sources.
type Config struct {
	Stream   string
	Subjects broker.Subjects
	// Duplicates is the hub's duplicate window, always explicit: since
	// nats-server 2.14 a stream with sources has none by default, and a
	// webhook sent to two edges is stored twice. Dedup happens when the hub
	// stores, so it must outlast the longest edge outage; each id in the
	// window costs about 135 B of hub memory.
	Duplicates time.Duration
	// Replicas, and the placement, apply when given: 0 and no placement
	// keep an existing stream's (1 and none for a new one), so that a run
	// to add an edge does not shrink an R3 hub stream to R1.
	Replicas         int
	PlacementCluster string
	PlacementTags    []string
	Edges            []string
	// EdgeTimeout is how long a new edge is waited for to answer before
	// its source is declared anyway.
	EdgeTimeout time.Duration
}

// Validate reports a configuration mistake, marked usage.Err.
func (c Config) Validate() error {
	var problems []string
	if c.Stream == "" || strings.ContainsAny(c.Stream, " \t.*>/\\") {
		problems = append(problems, fmt.Sprintf("--stream %q: a stream name has no spaces, dots, wildcards or slashes", c.Stream))
	}
	if err := c.Subjects.Validate(); err != nil {
		problems = append(problems, "--subject-prefix: "+err.Error())
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		problems = append(problems, "--stream-replicas must be between 1 and 5 (0 keeps an existing stream's)")
	}
	if c.EdgeTimeout <= 0 {
		problems = append(problems, "--edge-timeout must be positive")
	}
	seen := map[string]bool{}
	for _, e := range c.Edges {
		if err := broker.ValidateEdgeName(e); err != nil {
			problems = append(problems, "--edges: "+err.Error())
		}
		if seen[e] {
			problems = append(problems, fmt.Sprintf("--edges names %s twice: one edge, one source, one deliver subject", e))
		}
		seen[e] = true
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", usage.Err, strings.Join(problems, "; "))
	}
	return nil
}

// ValidateCreate is Validate for creating or changing the stream, which
// also needs the duplicate window.
func (c Config) ValidateCreate() error {
	if c.Duplicates <= 0 {
		return fmt.Errorf("%w: --duplicate-window is required and must be positive: since nats-server 2.14 a stream with sources "+
			"has no window by default, and a webhook sent to two edges is then stored twice. Make it outlast the longest edge outage "+
			"(about 135 B of hub memory per webhook in the window: 24h at 50/s is about 0.6 GB)", usage.Err)
	}
	return c.Validate()
}

// Result is what Ensure found and did.
type Result struct {
	Created bool
	// WindowChanged says the stream's duplicate window was WindowWas
	// (0 for none) and Ensure set it to Config.Duplicates.
	WindowChanged bool
	WindowWas     time.Duration
	Present       []string // edges whose source was already declared
	Added         []string
	// Silent are the added edges that did not answer within
	// Config.EdgeTimeout, and why: their sources start about 5 s after
	// they do (the server's wait for a consumer reset's answer).
	Silent map[string]error
}

// Ensure creates the hub's stream when it is missing, brings its duplicate
// window, replicas and placement to cfg, and declares the source of every
// edge in cfg.Edges that has none. It never changes a declared source: a
// declaration of an edge that differs from Source is refused
// (broker.ErrConfig), as are sources sharing a deliver subject.
//
// Each new edge is first waited for, up to cfg.EdgeTimeout, so that its
// source's first consumer reset is answered and forwarding starts at once;
// one that does not answer is declared all the same (Result.Silent). On
// nats-server 2.15.2 that order lost events (docs/edge-findings.md); the
// edges' server, 2.15.3, answers a reset exactly.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg Config) (Result, error) {
	sc, _, err := current(ctx, js, cfg)
	if err != nil {
		return Result{}, err
	}
	missing, err := plan(sc.Sources, cfg, &Result{})
	if err != nil {
		return Result{}, err
	}
	silent := waitAll(ctx, js, cfg, missing)
	// The wait may have been long: what is written is what the stream is
	// now, so that a source someone added meanwhile is neither dropped nor
	// declared twice. (An edge someone removed meanwhile is added again
	// without a wait.)
	res, err := declareChecked(ctx, js, cfg)
	for _, e := range res.Added {
		if silent[e] != nil {
			res.Silent[e] = silent[e]
		}
	}
	return res, err
}

// declareAttempts bounds how often declareChecked writes.
const declareAttempts = 3

// declareChecked is declare, then a read to see every edge of cfg
// declared: an update carries no revision, so another run writing between
// declare's read and its write drops what this one added; declared again,
// it is added on top of what the other wrote.
func declareChecked(ctx context.Context, js jetstream.JetStream, cfg Config) (Result, error) {
	var all Result
	for range declareAttempts {
		res, err := declare(ctx, js, cfg)
		if err != nil {
			return all, err
		}
		if all.Silent == nil {
			all = res
		} else {
			all.Added = append(all.Added, res.Added...)
		}
		sc, _, err := current(ctx, js, cfg)
		if err != nil {
			return all, err
		}
		if missing, err := plan(sc.Sources, cfg, &Result{}); err != nil || len(missing) == 0 {
			all.Added = slices.Compact(slices.Sorted(slices.Values(all.Added)))
			return all, err
		}
	}
	return all, fmt.Errorf("stream %s: the sources of %v did not stay declared after %d writes: another run of storylane-hub keeps "+
		"writing the stream at the same time; run one at a time", cfg.Stream, cfg.Edges, declareAttempts)
}

// declare adds the sources of cfg's edges the stream lacks and applies the
// settings storylane-hub owns, in one write. Result says what it did, and
// only once that is done.
func declare(ctx context.Context, js jetstream.JetStream, cfg Config) (Result, error) {
	res := Result{Silent: map[string]error{}}
	sc, exists, err := current(ctx, js, cfg)
	if err != nil {
		return Result{}, err
	}
	missing, err := plan(sc.Sources, cfg, &res)
	if err != nil {
		return Result{}, err
	}
	before := sc
	sc.Sources = slices.Clone(sc.Sources)
	for _, e := range missing {
		sc.Sources = append(sc.Sources, Source(cfg.Stream, e))
	}
	apply(&sc, cfg, exists)
	if err := write(ctx, js, sc, exists, !sameOwned(before, sc)); err != nil {
		return Result{}, err
	}
	res.Created, res.Added = !exists, missing
	if exists && before.Duplicates != cfg.Duplicates {
		res.WindowChanged, res.WindowWas = true, before.Duplicates
	}
	return res, nil
}

// waitAll waits for the edges together, so that the run takes one
// timeout however many are down, and returns those that did not answer.
func waitAll(ctx context.Context, js jetstream.JetStream, cfg Config, edges []string) map[string]error {
	silent := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, e := range edges {
		wg.Go(func() {
			if err := WaitReachable(ctx, js.Conn(), cfg.Stream, e, cfg.EdgeTimeout); err != nil {
				mu.Lock()
				silent[e] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return silent
}

// current is the stream's configuration, or a new one when it is missing.
func current(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.StreamConfig, bool, error) {
	s, err := js.Stream(ctx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return jetstream.StreamConfig{Name: cfg.Stream, Subjects: []string{cfg.Subjects.All()}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld}, false, nil
	}
	if err != nil {
		return jetstream.StreamConfig{}, false, fmt.Errorf("look up stream %s: %w", cfg.Stream, err)
	}
	sc := s.CachedInfo().Config
	if sc.Retention == jetstream.WorkQueuePolicy {
		return sc, true, fmt.Errorf("%w: stream %s has WorkQueue retention, an edge's: point --nats-url at the hub", broker.ErrConfig, cfg.Stream)
	}
	return sc, true, nil
}

// plan checks the declared sources and returns the edges to add.
func plan(sources []*jetstream.StreamSource, cfg Config, res *Result) ([]string, error) {
	if shared := sharedDeliverSubjects(sources); len(shared) > 0 {
		return nil, fmt.Errorf("%w: stream %s has several sources delivering to %s: each takes part of the other's events and the edges "+
			"delete what either acknowledged. Remove all but one by hand (nats stream edit), knowing the one kept re-sources nothing only if unchanged",
			broker.ErrConfig, cfg.Stream, strings.Join(shared, ", "))
	}
	var missing []string
	for _, e := range cfg.Edges {
		want := Source(cfg.Stream, e)
		i := slices.IndexFunc(sources, func(s *jetstream.StreamSource) bool { return owns(s, cfg.Stream, e) })
		switch {
		case i < 0:
			missing = append(missing, e)
		case sameSource(sources[i], want):
			res.Present = append(res.Present, e)
		default:
			return nil, fmt.Errorf("%w: stream %s already sources edge %s as (%s), not as (%s). storylane-hub never edits a source: "+
				"the hub would take the edited one for a new source and re-source the edge's whole history. Leave it, or, with the "+
				"edge's backlog at 0 and its events on the hub, remove it by hand and run storylane-hub again",
				broker.ErrConfig, cfg.Stream, e, describe(sources[i]), describe(want))
		}
	}
	return missing, nil
}

// apply sets in sc the settings storylane-hub owns: the window always,
// replicas and placement when given (Config.Replicas says why).
func apply(sc *jetstream.StreamConfig, cfg Config, exists bool) {
	sc.Duplicates = cfg.Duplicates
	switch {
	case cfg.Replicas > 0:
		sc.Replicas = cfg.Replicas
	case !exists:
		sc.Replicas = 1
	}
	if cfg.PlacementCluster != "" || len(cfg.PlacementTags) > 0 {
		sc.Placement = &jetstream.Placement{Cluster: cfg.PlacementCluster, Tags: cfg.PlacementTags}
	}
}

func sameOwned(a, b jetstream.StreamConfig) bool {
	return len(a.Sources) == len(b.Sources) && a.Duplicates == b.Duplicates && a.Replicas == b.Replicas && samePlacement(a.Placement, b.Placement)
}

func samePlacement(a, b *jetstream.Placement) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Cluster == b.Cluster && slices.Equal(a.Tags, b.Tags))
}

// write creates the stream, or updates it when changed: an update carries
// every declared source as the server gave it, which the server keeps
// as it is.
func write(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig, exists, changed bool) error {
	switch {
	case !exists:
		if _, err := js.CreateStream(ctx, sc); err != nil {
			return fmt.Errorf("create stream %s: %w", sc.Name, err)
		}
	case changed:
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("update stream %s: %w", sc.Name, err)
		}
	}
	return nil
}
