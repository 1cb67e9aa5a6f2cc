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

// StreamConfig is what the bridge asks of its stream.
type StreamConfig struct {
	Name       string
	Subjects   Subjects
	MaxAge     time.Duration // 0 keeps events forever
	Duplicates time.Duration // JetStream's duplicate window
	Replicas   int
}

func (c StreamConfig) apply(sc *jetstream.StreamConfig) {
	sc.Name = c.Name
	if !slices.Contains(sc.Subjects, c.Subjects.All()) {
		sc.Subjects = append(sc.Subjects, c.Subjects.All())
	}
	sc.MaxAge = c.MaxAge
	sc.Duplicates = c.Duplicates
	sc.Replicas = c.Replicas
}

// EnsureStream creates the stream with file storage when it is missing, and
// otherwise brings the settings the bridge owns (subjects, max age,
// duplicate window, replicas) to cfg, leaving everything an operator set
// by other means as it is.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		sc := jetstream.StreamConfig{Storage: jetstream.FileStorage, Discard: jetstream.DiscardOld}
		cfg.apply(&sc)
		s, err = js.CreateStream(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
		return s.CachedInfo(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", cfg.Name, err)
	}
	info := s.CachedInfo()
	if info.Config.Storage != jetstream.FileStorage {
		return nil, fmt.Errorf("stream %s exists with %s storage; events must survive a restart, so it needs file storage", cfg.Name, info.Config.Storage)
	}
	sc := info.Config
	cfg.apply(&sc)
	if sameOwnedSettings(info.Config, sc) {
		return info, nil
	}
	s, err = js.UpdateStream(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("update stream %s: %w", cfg.Name, err)
	}
	return s.CachedInfo(), nil
}

func sameOwnedSettings(a, b jetstream.StreamConfig) bool {
	return slices.Equal(a.Subjects, b.Subjects) && a.MaxAge == b.MaxAge &&
		a.Duplicates == b.Duplicates && a.Replicas == b.Replicas
}
