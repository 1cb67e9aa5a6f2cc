package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultStream is the name of the stream of Storylane events.
const DefaultStream = "STORYLANE"

// ErrConfig reports a stream or consumer that exists in a shape this
// program cannot use; waiting will not change it.
var ErrConfig = errors.New("conflicting configuration")

// ErrRefused reports a request the server will not carry out for this
// user, such as creating a stream its permissions do not allow: waiting
// will not change that, a person must.
var ErrRefused = errors.New("refused by the server")

// errCodeReplicasNotClustered is JetStream's error code for more replicas
// than a server outside a cluster has (nats.go does not name it).
const errCodeReplicasNotClustered = 10074

// IsPermanent reports an error that waiting for the broker will not cure:
// the server refused the request as invalid or not allowed, or the stream
// or consumer is configured in a way this program cannot use.
func IsPermanent(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 400 || apiErr.ErrorCode == jetstream.JSErrCodeConsumerCreate || apiErr.ErrorCode == errCodeReplicasNotClustered
	}
	return errors.Is(err, ErrConfig) || errors.Is(err, ErrRefused) || errors.Is(err, jetstream.ErrInvalidConsumerName) || errors.Is(err, jetstream.ErrInvalidStreamName)
}

// StreamConfig is what the bridge asks of its stream.
type StreamConfig struct {
	Name       string
	Subjects   Subjects
	MaxAge     time.Duration // 0 keeps events forever
	MaxBytes   int64         // 0 for no limit
	Duplicates time.Duration // JetStream's duplicate window
	Replicas   int
	// Placement, when Cluster or Tags is set, chooses the servers.
	PlacementCluster string
	PlacementTags    []string
	// Edge, when set, makes it an edge's stream (edge mode): MaxBytes is
	// then the backlog budget, and MaxAge 0.
	Edge *EdgeStream
}

func (c StreamConfig) apply(sc *jetstream.StreamConfig) {
	sc.Name = c.Name
	if !slices.Contains(sc.Subjects, c.Subjects.All()) {
		sc.Subjects = append(sc.Subjects, c.Subjects.All())
	}
	sc.MaxAge = c.MaxAge
	sc.MaxBytes = c.MaxBytes
	if sc.MaxBytes <= 0 {
		sc.MaxBytes = -1 // what the server stores for "no limit"
	}
	sc.Duplicates = c.Duplicates
	sc.Replicas = c.Replicas
	if c.Edge != nil {
		// Full refuses new events with an error the webhook's 503 carries;
		// discarding old ones would drop events the hub has not stored.
		sc.Discard = jetstream.DiscardNew
	}
	if c.PlacementCluster != "" || len(c.PlacementTags) > 0 {
		sc.Placement = &jetstream.Placement{Cluster: c.PlacementCluster, Tags: c.PlacementTags}
	}
}

// EnsureStream creates the stream with file storage when it is missing, and
// otherwise brings the settings the bridge owns (subjects, max age and
// bytes, duplicate window, replicas, placement; in edge mode the discard
// policy) to cfg, leaving everything an operator set by other means as it
// is. A hub's stream (one with sources) only gets the subjects it lacks. A
// stream whose retention does not fit the mode is refused (ErrConfig):
// retention cannot change in place.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (*jetstream.StreamInfo, error) {
	info, _, err := ensureStream(ctx, js, cfg)
	return info, err
}

// ensureStream is EnsureStream, also saying whether it created the stream.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (*jetstream.StreamInfo, bool, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		sc := jetstream.StreamConfig{Storage: jetstream.FileStorage, Discard: jetstream.DiscardOld}
		if cfg.Edge != nil {
			sc.Retention = jetstream.WorkQueuePolicy
		}
		cfg.apply(&sc)
		s, err = js.CreateStream(ctx, sc)
		if err != nil {
			return nil, false, fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
		return s.CachedInfo(), true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look up stream %s: %w", cfg.Name, err)
	}
	info := s.CachedInfo()
	if info.Config.Storage != jetstream.FileStorage {
		return nil, false, fmt.Errorf("%w: stream %s exists with %s storage; events must survive a restart, so it needs file storage", ErrConfig, cfg.Name, info.Config.Storage)
	}
	if err := checkRetention(info, cfg); err != nil {
		return nil, false, err
	}
	if len(info.Config.Sources) > 0 && cfg.Edge == nil {
		return hubStream(ctx, js, info, cfg)
	}
	sc := info.Config
	cfg.apply(&sc)
	if sameOwnedSettings(info.Config, sc) {
		return info, false, nil
	}
	s, err = js.UpdateStream(ctx, sc)
	if err != nil {
		return nil, false, fmt.Errorf("update stream %s: %w", cfg.Name, err)
	}
	return s.CachedInfo(), false, nil
}

// hubStream is ensureStream for a hub's stream, one with sources: the
// bridge adds its subjects when they are missing and changes nothing else.
// storylane-hub owns the window, replicas and placement, and the operator
// the limits: a bridge's own (a 1h window, say) would let a webhook sent
// to two edges further apart be stored twice.
func hubStream(ctx context.Context, js jetstream.JetStream, info *jetstream.StreamInfo, cfg StreamConfig) (*jetstream.StreamInfo, bool, error) {
	if slices.Contains(info.Config.Subjects, cfg.Subjects.All()) {
		return info, false, nil
	}
	sc := info.Config
	sc.Subjects = append(slices.Clone(sc.Subjects), cfg.Subjects.All())
	s, err := js.UpdateStream(ctx, sc)
	if err != nil {
		return nil, false, fmt.Errorf("update stream %s: add subjects %s: %w", cfg.Name, cfg.Subjects.All(), err)
	}
	return s.CachedInfo(), false, nil
}

func sameOwnedSettings(a, b jetstream.StreamConfig) bool {
	return slices.Equal(a.Subjects, b.Subjects) && a.MaxAge == b.MaxAge && a.MaxBytes == b.MaxBytes && a.Discard == b.Discard &&
		a.Duplicates == b.Duplicates && a.Replicas == b.Replicas && samePlacement(a.Placement, b.Placement)
}

func samePlacement(a, b *jetstream.Placement) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Cluster == b.Cluster && slices.Equal(a.Tags, b.Tags)
}
