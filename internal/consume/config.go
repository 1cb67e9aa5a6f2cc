package consume

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// Config describes a durable consumer.
type Config struct {
	Stream   string
	Subjects broker.Subjects
	// Durable names the consumer; processes sharing it share the work,
	// consumers with different names each get every event.
	Durable string
	// FilterSubjects limits the events delivered, e.g. known sessions only.
	FilterSubjects []string
	// AckWait is how long a delivery may stay unacknowledged before the
	// server redelivers it; a running handler keeps extending it.
	AckWait time.Duration
	// MaxDeliver is how many attempts an event gets before it is
	// dead-lettered.
	MaxDeliver int
	// Backoff is the delay before each retry; the last repeats.
	Backoff []time.Duration
	// MaxInFlight bounds the events being handled at once.
	MaxInFlight int
	// DeliverAll makes a new consumer start from the first message in the
	// stream instead of new messages only.
	DeliverAll bool
	// StartSeq, when set, makes a new consumer start at this stream
	// sequence instead: a replay that read what came before another way.
	StartSeq uint64
	// DeadLetter names the dead-letter subject's last token; Durable when
	// empty.
	DeadLetter string
}

// Defaults for the fields of Config left at zero.
const (
	DefaultAckWait     = 30 * time.Second
	DefaultMaxDeliver  = 10
	DefaultMaxInFlight = 64
)

// DefaultBackoff returns the retry schedule used when none is configured.
func DefaultBackoff() []time.Duration {
	return []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}
}

func (c *Config) setDefaults() error {
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if len(c.Backoff) == 0 {
		c.Backoff = DefaultBackoff()
	}
	if c.DeadLetter == "" {
		c.DeadLetter = c.Durable
	}
	if c.Stream == "" || c.Durable == "" {
		return errors.New("consumer needs a stream and a durable name")
	}
	if err := ValidateName(c.Durable); err != nil {
		return err
	}
	if len(c.FilterSubjects) == 0 {
		return fmt.Errorf("consumer %s: no filter subject", c.Durable)
	}
	return nil
}

// ValidateName checks a durable consumer name: JetStream refuses dots,
// wildcards, slashes and blanks in it.
func ValidateName(name string) error {
	if name == "" || strings.ContainsAny(name, ".*>/\\ \t\r\n") {
		return fmt.Errorf("consumer name %q: no dots, wildcards, slashes or blanks", name)
	}
	return nil
}

// backoff is the delay before the retry that follows attempt n (1-based).
func (c *Config) backoff(attempt uint64) time.Duration {
	i := int(min(attempt, uint64(len(c.Backoff)))) - 1
	return c.Backoff[max(i, 0)]
}

func (c *Config) consumerConfig() jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:        c.Durable,
		FilterSubjects: c.FilterSubjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.AckWait,
		// Unlimited on the server: the runtime counts attempts itself and
		// dead-letters the last, so the server never drops a message that
		// ran out of deliveries without anyone seeing it.
		MaxDeliver: -1,
		// Room beyond the events in flight for those waiting out a
		// back-off, so one failing event does not stall the others.
		MaxAckPending: max(1000, 2*c.MaxInFlight),
		DeliverPolicy: jetstream.DeliverNewPolicy,
	}
	switch {
	case c.StartSeq > 0:
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, c.StartSeq
	case c.DeliverAll:
		cc.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	if len(cc.FilterSubjects) == 1 {
		// A single filter travels in the API subject too, where a NATS
		// permission can hold a user to it.
		cc.FilterSubject, cc.FilterSubjects = cc.FilterSubjects[0], nil
	}
	return cc
}
