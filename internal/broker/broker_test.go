package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func streamConfig() broker.StreamConfig {
	return broker.StreamConfig{
		Name:       broker.DefaultStream,
		Subjects:   broker.Subjects{Prefix: broker.DefaultSubjectPrefix},
		Duplicates: time.Hour,
		Replicas:   1,
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestEnsureStreamCreatesFileStream(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	info, err := broker.EnsureStream(ctx(t), js, streamConfig())
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.Name != "STORYLANE" || len(c.Subjects) != 1 || c.Subjects[0] != "storylane.>" ||
		c.Storage != jetstream.FileStorage || c.Duplicates != time.Hour || c.MaxAge != 0 || c.Replicas != 1 {
		t.Errorf("EnsureStream() config = %+v, want STORYLANE over storylane.>, file storage, 1h duplicates", c)
	}
}

func TestEnsureStreamUpdatesOwnedSettingsOnly(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	// An operator adds a subject and a limit of their own.
	s, _ := js.Stream(ctx(t), "STORYLANE")
	sc := s.CachedInfo().Config
	sc.Subjects = append(sc.Subjects, "ops.notes")
	sc.MaxMsgs = 1000
	if _, err := js.UpdateStream(ctx(t), sc); err != nil {
		t.Fatal(err)
	}
	cfg := streamConfig()
	cfg.MaxAge = 48 * time.Hour
	cfg.Duplicates = 10 * time.Minute
	info, err := broker.EnsureStream(ctx(t), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.MaxAge != 48*time.Hour || c.Duplicates != 10*time.Minute {
		t.Errorf("EnsureStream() max age, duplicates = %v, %v, want 48h, 10m", c.MaxAge, c.Duplicates)
	}
	if c.MaxMsgs != 1000 || len(c.Subjects) != 2 {
		t.Errorf("EnsureStream() = subjects %v, max msgs %d, want the operator's settings kept", c.Subjects, c.MaxMsgs)
	}
	again, err := broker.EnsureStream(ctx(t), js, cfg)
	if err != nil || again.Config.MaxAge != cfg.MaxAge {
		t.Errorf("EnsureStream() a second time = %v, %v, want the same stream", again, err)
	}
}

func TestPublishAcknowledgesAndDeduplicates(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	p := broker.NewPublisher(js, "STORYLANE")
	msg := func() *nats.Msg {
		return &nats.Msg{Subject: "storylane.session.known", Data: []byte(`{"id":"a"}`),
			Header: nats.Header{"Nats-Msg-Id": {"id-a"}}}
	}
	first, err := p.Publish(ctx(t), msg())
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Publish(ctx(t), msg())
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !second.Duplicate || first.Sequence != second.Sequence || first.Stream != "STORYLANE" {
		t.Errorf("Publish twice = %+v then %+v, want one stored message and a duplicate ack", first, second)
	}
	if got := len(natstest.Messages(t, js, "STORYLANE")); got != 1 {
		t.Errorf("stream holds %d messages, want 1", got)
	}
}

func TestPublishOutsideStreamFails(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	p := broker.NewPublisher(js, "STORYLANE")
	if _, err := p.Publish(ctx(t), &nats.Msg{Subject: "elsewhere.x", Data: []byte("x")}); err == nil {
		t.Error("Publish(elsewhere.x) = nil error, want an error: no stream stores it")
	}
}

func TestPublishFailsWhileBrokerDownThenRecovers(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	p := broker.NewPublisher(js, "STORYLANE")
	srv.Stop()
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := p.Publish(c, &nats.Msg{Subject: "storylane.session.known", Data: []byte("x")}); err == nil {
		t.Fatal("Publish with the broker stopped = nil error, want an error")
	}
	if err := p.Ready(ctx(t)); err == nil {
		t.Error("Ready() with the broker stopped = nil, want an error")
	}
	srv.Restart()
	var err error
	if !poll.Within(10*time.Second, func() bool {
		_, err = p.Publish(ctx(t), &nats.Msg{Subject: "storylane.session.known", Data: []byte("y")})
		return err == nil
	}) {
		t.Fatalf("Publish after the broker restarted = %v, want nil", err)
	}
	if err := p.Ready(ctx(t)); err != nil {
		t.Errorf("Ready() after restart = %v, want nil", err)
	}
}

func TestEmbeddedKeepsDataAcrossRestart(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.NewPublisher(js, "STORYLANE").Publish(ctx(t), &nats.Msg{Subject: "storylane.session.unknown", Data: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	msgs := natstest.Messages(t, srv.JetStream(t), "STORYLANE")
	if len(msgs) != 1 || string(msgs[0].Data) != "kept" {
		t.Errorf("after restart the stream holds %d messages, want the one stored before", len(msgs))
	}
}

func TestEmbeddedWithoutListener(t *testing.T) {
	t.Parallel()
	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{DataDir: t.TempDir()}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	if ns.Addr() != nil {
		t.Errorf("StartEmbedded(Listen: \"\") listens on %v, want no listener", ns.Addr())
	}
	nc, err := broker.ConnectInProcess(ns, "test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Errorf("EnsureStream over an in-process connection = %v, want nil", err)
	}
}

func TestStartEmbeddedRejectsBadListen(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"nohostport", "127.0.0.1:http", "127.0.0.1:70000"} {
		if ns, err := broker.StartEmbedded(broker.EmbeddedConfig{Listen: listen, DataDir: t.TempDir()}, zap.NewNop()); err == nil {
			ns.Shutdown()
			t.Errorf("StartEmbedded(Listen: %q) = nil error, want an error", listen)
		}
	}
}

func TestConnectRejectsBadAuthConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]broker.ConnConfig{
		"cert without key": {URL: "nats://127.0.0.1:1", TLSCert: "cert.pem"},
		"missing nkey":     {URL: "nats://127.0.0.1:1", NKeyFile: "/nonexistent/seed.nk"},
	}
	for name, cfg := range tests {
		if nc, err := broker.Connect(cfg, zap.NewNop()); err == nil {
			nc.Close()
			t.Errorf("Connect(%s) = nil error, want an error", name)
		}
	}
}

func TestSubjects(t *testing.T) {
	t.Parallel()
	s := broker.Subjects{Prefix: "acme.storylane"}
	got := []string{s.Session(true), s.Session(false), s.Invalid(), s.DeadLetter("lead-sync"), s.All()}
	want := []string{"acme.storylane.session.known", "acme.storylane.session.unknown", "acme.storylane.invalid", "acme.storylane.dlq.lead-sync", "acme.storylane.>"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Subjects = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "a..b", "a.*", ">", "with space", "trailing."} {
		if err := (broker.Subjects{Prefix: bad}).Validate(); err == nil {
			t.Errorf("Subjects{%q}.Validate() = nil, want an error", bad)
		}
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Subjects{%q}.Validate() = %v, want nil", s.Prefix, err)
	}
}

func TestPublishTooLarge(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, js.Conn().MaxPayload()+1)
	_, err := broker.NewPublisher(js, "STORYLANE").Publish(ctx(t), &nats.Msg{Subject: "storylane.session.known", Data: big})
	if !errors.Is(err, broker.ErrTooLarge) {
		t.Errorf("Publish(too large) = %v, want %v", err, broker.ErrTooLarge)
	}
}

func TestEnsureStreamRefusesMemoryStorage(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "STORYLANE", Subjects: []string{"storylane.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err == nil || !strings.Contains(err.Error(), "file storage") {
		t.Errorf("EnsureStream() over a memory stream = %v, want an error asking for file storage", err)
	}
}

func TestRedactURLs(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://alice:s3cret@a:4222,tls://bob:pw@b:4222", "nats://alice:xxxxx@a:4222,tls://bob:xxxxx@b:4222"},
		{"nats://s3cret-token@a:4222", "nats://redacted@a:4222"},
		{"nats://a:4222, nats://b:4222", "nats://a:4222, nats://b:4222"},
	}
	for _, tt := range tests {
		if got := broker.RedactURLs(tt.in); got != tt.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEnsureStreamMaxBytes(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	cfg := streamConfig()
	cfg.MaxBytes = 10 << 20
	info, err := broker.EnsureStream(ctx(t), js, cfg)
	if err != nil || info.Config.MaxBytes != 10<<20 {
		t.Fatalf("EnsureStream(max bytes 10 MiB) = %v, %v, want the limit set", info, err)
	}
	cfg.MaxBytes = 0
	if info, err = broker.EnsureStream(ctx(t), js, cfg); err != nil || info.Config.MaxBytes != -1 {
		t.Errorf("EnsureStream(max bytes 0) = %d, %v, want no limit (-1)", info.Config.MaxBytes, err)
	}
}

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{&jetstream.APIError{Code: 400, ErrorCode: 10065, Description: "subjects overlap with an existing stream"}, true},
		{fmt.Errorf("create: %w", &jetstream.APIError{Code: 500, ErrorCode: 10012, Description: "deliver policy can not be updated"}), true},
		{&jetstream.APIError{Code: 500, ErrorCode: 10074, Description: "replicas > 1 not supported in non-clustered mode"}, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, false},
		{&jetstream.APIError{Code: 404, ErrorCode: 10059, Description: "stream not found"}, false},
		{fmt.Errorf("wrapped: %w", broker.ErrConfig), true},
		{fmt.Errorf("wrapped: %w", broker.ErrRefused), true},
		{jetstream.ErrInvalidConsumerName, true},
		{nats.ErrTimeout, false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := broker.IsPermanent(tt.err); got != tt.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestStartEmbeddedFailsAtOnce: what keeps the embedded server from
// starting ends StartEmbedded at once with the reason, instead of after the
// 10 s it waits for a server to be ready.
func TestStartEmbeddedFailsAtOnce(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  broker.EmbeddedConfig
		want []string
	}{
		{"taken port", broker.EmbeddedConfig{Listen: taken.Addr().String(), DataDir: t.TempDir()}, []string{taken.Addr().String(), "address already in use"}},
		{"data dir is a file", broker.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: notADir}, []string{"JetStream", notADir}},
		{"data dir is a file, no listener", broker.EmbeddedConfig{Listen: broker.NoListen, DataDir: notADir}, []string{"JetStream", notADir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			ns, err := broker.StartEmbedded(tt.cfg, zap.NewNop())
			took := time.Since(start)
			if err == nil {
				ns.Shutdown()
				ns.WaitForShutdown()
				t.Fatalf("StartEmbedded(%s) = nil error, want an error", tt.name)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("StartEmbedded(%s) = %v, want it to say %q", tt.name, err, want)
				}
			}
			if took > 5*time.Second {
				t.Errorf("StartEmbedded(%s) took %s to fail, want at once, not after the ready timeout", tt.name, took)
			}
		})
	}
}
