package broker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// guarded starts an embedded server whose listener is guarded by access,
// creates the stream in-process as the bridge does, and stores one known
// session in it.
func guarded(t *testing.T, access broker.ListenerAccess) (*broker.Embedded, jetstream.Stream) {
	t.Helper()
	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Access: &access}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := broker.ConnectInProcess(ns, "bridge", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	cfg := streamConfig()
	cfg.Name, cfg.Subjects = access.Stream, access.Subjects
	if _, err := broker.EnsureStream(ctx(t), js, cfg); err != nil {
		t.Fatalf("EnsureStream in-process on a guarded server = %v", err)
	}
	if _, err := js.Publish(ctx(t), access.Subjects.Session(true), []byte(`{"id":"real"}`)); err != nil {
		t.Fatalf("in-process publish of a session = %v", err)
	}
	st, err := js.Stream(ctx(t), access.Stream)
	if err != nil {
		t.Fatal(err)
	}
	return ns, st
}

// client is a listener client that records the errors the server sends it.
type client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	mu   sync.Mutex
	errs []string
}

func dial(t *testing.T, ns *broker.Embedded, opts ...nats.Option) (*client, error) {
	t.Helper()
	c := &client{}
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.errs = append(c.errs, err.Error())
	}))
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	c.js, _ = jetstream.New(nc)
	return c, nil
}

// violated waits up to two seconds for the server to report a permissions
// violation on subject.
func (c *client) violated(subject string) bool {
	return poll.Within(2*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range c.errs {
			// A subscription's violation is named "Subscription to" and
			// its subject: not to be taken for a publish's.
			sub, isSub := strings.CutPrefix(subject, "Subscription to ")
			if isSub && strings.Contains(e, `Permissions Violation for Subscription to "`+sub+`"`) ||
				!isSub && strings.Contains(e, "Permissions Violation") && strings.Contains(e, `"`+subject+`"`) {
				return true
			}
		}
		return false
	})
}

func short(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	t.Cleanup(cancel)
	return c
}

// reads checks that c can do what every consumer does: inspect the stream,
// get a message, consume with a durable and acknowledge, read with the
// ordered consumers of storylane-tail and session-archive --replay and
// with the nats CLI's push consumer, and store a dead letter.
func reads(t *testing.T, c *client, access broker.ListenerAccess) {
	t.Helper()
	st, err := c.js.Stream(ctx(t), access.Stream)
	if err != nil {
		t.Fatalf("stream info as a reader = %v", err)
	}
	if m, err := st.GetMsg(ctx(t), 1); err != nil || string(m.Data) != `{"id":"real"}` {
		t.Errorf("GetMsg(1) as a reader = %v, want the stored session", err)
	}
	dur, err := st.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: "lead-sync", AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: access.Subjects.Session(true)})
	if err != nil {
		t.Fatalf("durable as a reader = %v", err)
	}
	batch, err := dur.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx(t)); err != nil {
			t.Errorf("ack as a reader = %v", err)
		}
	}
	if info, err := dur.Info(ctx(t)); err != nil || info.AckFloor.Stream != 1 {
		t.Errorf("durable after fetch and ack = %+v, %v; want acknowledged up to 1", info, err)
	}
	oc, err := st.OrderedConsumer(ctx(t), jetstream.OrderedConsumerConfig{FilterSubjects: []string{access.Subjects.Session(true)}})
	if err != nil {
		t.Fatalf("ordered consumer as a reader = %v", err)
	}
	if m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil || string(m.Data()) != `{"id":"real"}` {
		t.Errorf("ordered consumer Next as a reader = %v, want the stored session", err)
	}
	if err := st.DeleteConsumer(ctx(t), "lead-sync"); err != nil {
		t.Errorf("delete a durable as a reader (session-archive --replay) = %v", err)
	}
	// What `nats sub --stream` does: an ordered push consumer found by subject.
	legacy, _ := c.nc.JetStream()
	got := make(chan *nats.Msg, 1)
	sub, err := legacy.Subscribe(access.Subjects.All(), func(m *nats.Msg) {
		select {
		case got <- m:
		default:
		}
	}, nats.OrderedConsumer(), nats.DeliverAll())
	if err != nil {
		t.Fatalf("ordered push consumer as a reader = %v", err)
	}
	defer sub.Unsubscribe()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Error("ordered push consumer as a reader received nothing")
	}
	if _, err := c.js.Publish(ctx(t), access.Subjects.DeadLetter("lead-sync"), []byte(`{"id":"real"}`)); err != nil {
		t.Errorf("dead letter as a reader = %v", err)
	}
}

// refused checks that c cannot forge an event, delete, purge or change the
// stream, or answer anyone's request, and that nothing it tried changed
// the stream.
func refused(t *testing.T, c *client, st jetstream.Stream, access broker.ListenerAccess) {
	t.Helper()
	before, err := st.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.js.Stream(ctx(t), access.Stream) // the reader's own handle
	if err != nil {
		t.Fatal(err)
	}
	type attempt struct {
		subject string
		try     func() error
	}
	var attempts []attempt
	for _, subj := range access.Subjects.EventSubjects() {
		attempts = append(attempts, attempt{subj, func() error {
			_, err := c.js.Publish(short(t), subj, []byte(`{"id":"forged"}`), jetstream.WithMsgID("forged"))
			return err
		}})
	}
	api := "$JS.API.STREAM."
	attempts = append(attempts, []attempt{
		{api + "DELETE." + access.Stream, func() error { return c.js.DeleteStream(short(t), access.Stream) }},
		{api + "PURGE." + access.Stream, func() error { return rs.Purge(short(t)) }},
		{api + "UPDATE." + access.Stream, func() error {
			_, err := c.js.UpdateStream(short(t), jetstream.StreamConfig{Name: access.Stream, Subjects: []string{access.Subjects.All()}})
			return err
		}},
		{api + "MSG.DELETE." + access.Stream, func() error { return rs.DeleteMsg(short(t), 1) }},
		{api + "CREATE.SHADOW", func() error {
			_, err := c.js.CreateStream(short(t), jetstream.StreamConfig{Name: "SHADOW", Subjects: []string{"shadow.>"}})
			return err
		}},
		{"_INBOX.someone.ack", func() error { return c.nc.Publish("_INBOX.someone.ack", []byte(`{"stream":"x","seq":1}`)) }},
	}...)
	// No core subscription shows a reader the bridge's publishes or its
	// acknowledgements, and so their reply subjects.
	for _, subj := range append(access.Subjects.EventSubjects(), broker.BridgeInboxPrefix+".>") {
		attempts = append(attempts, attempt{"Subscription to " + subj, func() error {
			sub, err := c.nc.SubscribeSync(subj)
			if err == nil {
				defer sub.Unsubscribe()
				err = c.nc.Flush()
			}
			return err
		}})
	}
	// Each refused request waits out its timeout: wait for them together.
	var wg sync.WaitGroup
	for _, a := range attempts {
		wg.Go(func() {
			if err := a.try(); !c.violated(a.subject) {
				t.Errorf("%s as a reader = %v, want a permissions violation", a.subject, err)
			}
		})
	}
	wg.Wait()
	after, err := st.Info(ctx(t))
	if err != nil {
		t.Fatalf("the stream after a reader's attempts: %v", err)
	}
	if after.State.Msgs != before.State.Msgs || after.State.LastSeq != before.State.LastSeq || after.Config.MaxAge != before.Config.MaxAge {
		t.Errorf("the stream after a reader's attempts holds %d messages up to %d, want %d up to %d, unchanged",
			after.State.Msgs, after.State.LastSeq, before.State.Msgs, before.State.LastSeq)
	}
}

// TestEmbeddedListenerReadOnly: with no credentials, a listener client reads,
// consumes and dead-letters, and is refused forging an event or touching
// the stream, under the default and a custom stream and prefix.
func TestEmbeddedListenerReadOnly(t *testing.T) {
	t.Parallel()
	for _, access := range []broker.ListenerAccess{
		{Stream: broker.DefaultStream, Subjects: broker.Subjects{Prefix: broker.DefaultSubjectPrefix}},
		{Stream: "ACME", Subjects: broker.Subjects{Prefix: "acme.storylane"}},
	} {
		t.Run(access.Stream, func(t *testing.T) {
			t.Parallel()
			ns, st := guarded(t, access)
			c, err := dial(t, ns)
			if err != nil {
				t.Fatalf("connect without credentials = %v, want a reader", err)
			}
			reads(t, c, access)
			refused(t, c, st, access)
		})
	}
}

// TestEmbeddedOwnerInProcessOnly: the bridge's own user cannot log in
// through the listener, even with its password.
func TestEmbeddedOwnerInProcessOnly(t *testing.T) {
	t.Parallel()
	ns, _ := guarded(t, broker.ListenerAccess{Stream: broker.DefaultStream, Subjects: broker.Subjects{Prefix: broker.DefaultSubjectPrefix}})
	if _, err := dial(t, ns, nats.UserInfo("storylane-bridge", broker.OwnerPassword(ns))); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect over the listener as the owner = %v, want %v", err, nats.ErrAuthorization)
	}
}

// TestEmbeddedListenerNKey: with a reader nkey, a client without it is
// refused; one with it reads but still cannot forge or delete.
func TestEmbeddedListenerNKey(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/data/" + broker.ReaderKeyFile
	pub, err := broker.ReaderKey(file)
	if err != nil {
		t.Fatal(err)
	}
	access := broker.ListenerAccess{Stream: broker.DefaultStream, Subjects: broker.Subjects{Prefix: broker.DefaultSubjectPrefix}, ReaderNKey: pub}
	ns, st := guarded(t, access)
	if _, err := dial(t, ns); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect without the nkey = %v, want %v", err, nats.ErrAuthorization)
	}
	if _, err := dial(t, ns, nats.UserInfo("reader", "")); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect as the no-credentials reader = %v, want %v", err, nats.ErrAuthorization)
	}
	seed, err := nats.NkeyOptionFromSeed(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, ns, seed)
	if err != nil {
		t.Fatalf("connect with the reader nkey = %v", err)
	}
	reads(t, c, access)
	refused(t, c, st, access)
}

// TestEmbeddedGuardKeepsData: a store written by an open server (a bridge
// before the listener was guarded) is the bridge's once guarded: same
// account, same stream, same events.
func TestEmbeddedGuardKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open, err := broker.StartEmbedded(broker.EmbeddedConfig{DataDir: dir}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := broker.ConnectInProcess(open, "old", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx(t), "storylane.session.known", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	open.Shutdown()
	open.WaitForShutdown()

	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{DataDir: dir,
		Access: &broker.ListenerAccess{Stream: broker.DefaultStream, Subjects: broker.Subjects{Prefix: broker.DefaultSubjectPrefix}}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err = broker.ConnectInProcess(ns, "new", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	st, err := js.Stream(ctx(t), broker.DefaultStream)
	if err != nil {
		t.Fatalf("the stream on the guarded server: %v", err)
	}
	if info, err := st.Info(ctx(t)); err != nil || info.State.Msgs != 1 {
		t.Errorf("the guarded server's stream = %+v, %v; want the 1 event stored before", info, err)
	}
}
