package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
)

func TestParsePrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"default", nil, nil, "default"},
		{"environment", nil, map[string]string{"THING": "from-env"}, "from-env"},
		{"flag over environment", []string{"--thing", "from-flag"}, map[string]string{"THING": "from-env"}, "from-flag"},
		{"flag set to empty over environment", []string{"--thing="}, map[string]string{"THING": "from-env"}, ""},
		{"empty variable is unset", nil, map[string]string{"THING": ""}, "default"},
	}
	for _, tt := range tests {
		var thing string
		f := cli.NewFlagSet("test", "a test", io.Discard)
		f.StringVar(&thing, "thing", "THING", "default", "a thing")
		if err := f.Parse(tt.args, clitest.Env(tt.vars)); err != nil {
			t.Fatalf("Parse(%s) = %v", tt.name, err)
		}
		if thing != tt.want {
			t.Errorf("Parse(%s) thing = %q, want %q", tt.name, thing, tt.want)
		}
	}
}

func TestParseTypedVariables(t *testing.T) {
	t.Parallel()
	var (
		d time.Duration
		i int
		n int64
		b bool
	)
	f := cli.NewFlagSet("test", "a test", io.Discard)
	f.DurationVar(&d, "wait", "WAIT", time.Second, "")
	f.IntVar(&i, "count", "COUNT", 1, "")
	f.Int64Var(&n, "size", "SIZE", 1, "")
	f.BoolVar(&b, "on", "ON", false, "")
	vars := map[string]string{"WAIT": "90s", "COUNT": "3", "SIZE": "4096", "ON": "true"}
	if err := f.Parse(nil, clitest.Env(vars)); err != nil {
		t.Fatal(err)
	}
	if d != 90*time.Second || i != 3 || n != 4096 || !b {
		t.Errorf("Parse(env %v) = %v %v %v %v, want 90s 3 4096 true", vars, d, i, n, b)
	}
	f = cli.NewFlagSet("test", "a test", io.Discard)
	f.DurationVar(&d, "wait", "WAIT", time.Second, "")
	f.IntVar(&i, "count", "COUNT", 1, "")
	err := f.Parse(nil, clitest.Env(map[string]string{"WAIT": "soon", "COUNT": "many"}))
	if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "WAIT") || !strings.Contains(err.Error(), "COUNT") {
		t.Errorf("Parse(bad env) = %v, want a usage error naming WAIT and COUNT", err)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	var s string
	f := cli.NewFlagSet("tool", "Does a thing.", &out)
	f.StringVar(&s, "target", "TOOL_TARGET", "x", "where the thing goes")
	f.EnvOnly("TOOL_SECRET", "the secret")
	if err := f.Parse([]string{"--help"}, clitest.Env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(--help) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: tool", "Does a thing.", "--target", "[$TOOL_TARGET]", "where the thing goes", `(default "x")`, "$TOOL_SECRET"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help = %q, want it to contain %q", out.String(), want)
		}
	}
}

func TestExit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		code int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{fmt.Errorf("%w: bad flag", cli.ErrUsage), 2},
		{errors.New("broker down"), 1},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if got := cli.Exit(&stderr, "tool", tt.err); got != tt.code {
			t.Errorf("Exit(%v) = %d, want %d", tt.err, got, tt.code)
		}
		if tt.code != 0 && !strings.HasPrefix(stderr.String(), "tool: ") {
			t.Errorf("Exit(%v) printed %q, want it prefixed with the command", tt.err, stderr.String())
		}
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	var out clitest.Logs // safe for the logger's flushing goroutine
	logger, stop, err := cli.NewLogger(cli.LogConfig{Format: "json", Level: "warn"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	logger.Info("hidden")
	logger.Warn("shown") // written at once, not held in the buffer
	var line map[string]any
	if err := json.Unmarshal([]byte(out.String()), &line); err != nil || line["msg"] != "shown" {
		t.Errorf("json logger at warn wrote %q, want one JSON line for the warning", out.String())
	}
	for _, c := range []cli.LogConfig{{Format: "xml", Level: "info"}, {Format: "json", Level: "chatty"}} {
		if _, _, err := cli.NewLogger(c, io.Discard); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("NewLogger(%+v) = %v, want a usage error", c, err)
		}
	}
}

// Info lines wait in the buffer until it is written out: by stop here.
func TestNewLoggerBuffersInfo(t *testing.T) {
	t.Parallel()
	var out clitest.Logs // safe for the logger's flushing goroutine
	logger, stop, err := cli.NewLogger(cli.LogConfig{Format: "json", Level: "info"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("first")
	logger.With(zap.String("k", "v")).Info("second")
	stop()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"first"`) || !strings.Contains(lines[1], `"k":"v"`) {
		t.Errorf("NewLogger wrote %q after stop, want both info lines", out.String())
	}
}

func TestNATSLivenessFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		vars    map[string]string
		want    [3]any // ping interval, max pings out, write timeout
		wantErr bool
	}{
		{"defaults", nil, nil, [3]any{5 * time.Second, 2, 2 * time.Second}, false},
		{"environment", nil, map[string]string{"NATS_PING_INTERVAL": "1s", "NATS_MAX_PINGS_OUT": "3", "NATS_WRITE_TIMEOUT": "10s"},
			[3]any{time.Second, 3, 10 * time.Second}, false},
		{"flags", []string{"--nats-ping-interval", "500ms", "--nats-max-pings-out", "1", "--nats-write-timeout", "1s"}, nil,
			[3]any{500 * time.Millisecond, 1, time.Second}, false},
		{"no pings", []string{"--nats-ping-interval", "0s"}, nil, [3]any{}, true},
		{"no ping out", []string{"--nats-max-pings-out", "0"}, nil, [3]any{}, true},
		{"negative write timeout", nil, map[string]string{"NATS_WRITE_TIMEOUT": "-1s"}, [3]any{}, true},
	}
	for _, tt := range tests {
		var c broker.ConnConfig
		f := cli.NewFlagSet("test", "a test", io.Discard)
		f.NATS(&c, "")
		err := f.Parse(tt.args, clitest.Env(tt.vars))
		if tt.wantErr {
			if !errors.Is(err, cli.ErrUsage) {
				t.Errorf("Parse(%s) = %v, want a usage error", tt.name, err)
			}
			continue
		}
		if got := [3]any{c.PingInterval, c.MaxPingsOut, c.WriteTimeout}; err != nil || got != tt.want {
			t.Errorf("Parse(%s) = %v, %v, want %v", tt.name, got, err, tt.want)
		}
	}
}
