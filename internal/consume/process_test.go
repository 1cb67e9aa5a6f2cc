package consume_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// parseProcess reads a consumer binary's flags as one would.
func parseProcess(args []string, getenv func(string) string) (consume.ProcessConfig, error) {
	var c consume.ProcessConfig
	f := cli.NewFlagSet("consumer", "A consumer.", io.Discard)
	consume.DefineFlags(f, &c, "proc", 4, "all")
	if err := f.Parse(args, getenv); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	c.Consumer.FilterSubjects = []string{c.Consumer.Subjects.Prefix + ".session.*"}
	return c, nil
}

// process is a consumer binary whose handler counts the events.
func process(handled *atomic.Int64) clitest.RunFunc {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		cfg, err := parseProcess(args, getenv)
		if err != nil {
			return err
		}
		logger, stop, err := cli.NewLogger(cfg.Log, stdout)
		if err != nil {
			return err
		}
		defer stop()
		return consume.RunProcess(ctx, cfg, func(context.Context, consume.Event) error {
			handled.Add(1)
			return nil
		}, logger, noop.NewTracerProvider())
	}
}

func TestProcessFlagsRefuseMistakes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--durable", "a.b"},
		{"--max-deliver", "0"},
		{"--max-in-flight", "0"},
		{"--ack-wait", "0s"},
		{"--deliver", "some"},
		{"--subject-prefix", "a.*"},
		{"--admin-listen", "bogus"},
	} {
		if _, err := parseProcess(args, clitest.Env(nil)); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("consumer %v = %v, want a usage error", args, err)
		}
	}
}

// TestProcessConsumesAndIsReady: the process opens the durable, handles
// what the stream holds, and says it is ready on its admin listener.
func TestProcessConsumesAndIsReady(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	e := env{js: js, stream: natstest.DefaultStream(t, js)}
	e.publish(t, 3)
	var handled atomic.Int64
	r := clitest.Start(t, process(&handled), []string{"--nats-url", srv.URL(), "--admin-listen", "127.0.0.1:0"}, nil)
	addr := r.Logs.Wait(t, "admin listening")["addr"].(string)
	r.Logs.Wait(t, "consuming")
	poll.Eventually(t, "the 3 events handled", 15*time.Second, func() bool { return handled.Load() == 3 })
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz while consuming = %d, want 200", res.StatusCode)
	}
	if err := r.Stop(t); err != nil {
		t.Errorf("consumer stopped = %v, want nil", err)
	}
}

// TestProcessStoppedWhileWaiting: stopped while it waits for its broker,
// the process ends without an error: it had not begun its work.
func TestProcessStoppedWhileWaiting(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	srv.Stop()
	var handled atomic.Int64
	r := clitest.Start(t, process(&handled), []string{"--nats-url", srv.URL()}, nil)
	r.Logs.Wait(t, "waiting for the stream and the consumer")
	if err := r.Stop(t); err != nil {
		t.Errorf("consumer stopped while waiting for its broker = %v, want nil", err)
	}
	r.Logs.Wait(t, "stopped before consuming")
}

// TestProcessAdminAddressInUse exits 1 with the bind error, as the bridge
// does for each of its listeners: the port's state, not a usage mistake.
func TestProcessAdminAddressInUse(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var handled atomic.Int64
	run := process(&handled)
	err = run(context.Background(), []string{"--nats-url", srv.URL(), "--admin-listen", taken.Addr().String()}, clitest.Env(nil), io.Discard)
	if code := cli.Exit(io.Discard, "consumer", err); code != 1 || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("consumer --admin-listen on a taken port = %v, exit %d, want the address in use and exit 1", err, code)
	}
}
