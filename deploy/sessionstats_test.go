package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/stats/follow"
)

// violationLog keeps the permission violations a nats-server logs.
type violationLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *violationLog) Errorf(format string, v ...any) {
	if s := fmt.Sprintf(format, v...); strings.Contains(s, "Violation") {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, s)
	}
}
func (l *violationLog) Noticef(string, ...any) {}
func (l *violationLog) Warnf(string, ...any)   {}
func (l *violationLog) Fatalf(string, ...any)  {}
func (l *violationLog) Debugf(string, ...any)  {}
func (l *violationLog) Tracef(string, ...any)  {}

func (l *violationLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// natsNode runs one node of deploy/nats/nats.conf on a loopback port,
// without its cluster: the users and their permissions as they ship. It
// returns the URL and the passwords by user.
func natsNode(t *testing.T, violations *violationLog) (string, map[string]string) {
	t.Helper()
	natsEnv(t)
	pw := userPasswords(t, "bridge", "session-stats", "admin")
	opts, err := server.ProcessConfigFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	return startNode(t, opts, violations, "deploy/nats").ClientURL(), pw
}

// userPasswords sets, for each user, the password variable the shipped
// configuration reads (NATS_<USER>_PASSWORD) and returns them by user.
func userPasswords(t *testing.T, users ...string) map[string]string {
	t.Helper()
	pw := map[string]string{}
	for _, user := range users {
		v := "NATS_" + strings.ToUpper(strings.ReplaceAll(user, "-", "_")) + "_PASSWORD"
		pw[user] = "pw" + strings.ToLower(strings.ReplaceAll(v, "_", ""))
		t.Setenv(v, pw[user])
	}
	return pw
}

// startNode runs opts in this process as one node on loopback, without
// its cluster, logging to log, stopped when the test ends; what names the
// configuration in a failure.
func startNode(t *testing.T, opts *server.Options, log server.Logger, what string) *server.Server {
	t.Helper()
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.SetLoggerV2(log, false, false, false)
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats-server from %s not ready within 10s", what)
	}
	return s
}

// connectUser connects as user with its private inbox, as deploy/ sets
// every program up, collecting the errors the server sends back.
func connectUser(t *testing.T, url, user, password string, errs *violationLog) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.CustomInboxPrefix("_INBOX."+user),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs.Errorf("%v", err) }))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// runStats is session-stats' run as its user on url, logging JSON to stdout.
func runStats(url, password, stateDir string) clitest.RunFunc {
	return func(ctx context.Context, _ []string, _ func(string) string, stdout io.Writer) error {
		logger, stop, err := cli.NewLogger(cli.LogConfig{Format: "json", Level: "info"}, stdout)
		if err != nil {
			return err
		}
		defer stop()
		return follow.RunProcess(ctx, follow.ProcessConfig{
			NATS:   broker.ConnConfig{URL: url, Name: "session-stats", User: "session-stats", Password: password, InboxPrefix: "_INBOX.session-stats"},
			Stream: broker.DefaultStream, Subjects: broker.Subjects{Prefix: broker.DefaultSubjectPrefix},
			Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", StateDir: stateDir, SnapshotInterval: 100 * time.Millisecond,
		}, logger)
	}
}

// sessionCount is the total of sessions session-stats' API reports.
func sessionCount(t *testing.T, api string) int64 {
	t.Helper()
	resp, err := http.Get(api + "/api/overview")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var o struct {
		Totals struct {
			Sessions int64 `json:"sessions"`
		} `json:"totals"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		t.Fatalf("GET %s/api/overview: %v", api, err)
	}
	return o.Totals.Sessions
}

// TestSessionStatsUser runs session-stats as deploy/nats's session-stats
// user against a nats-server started from deploy/nats: it builds its
// figures from the first event, follows new ones and restarts from its
// snapshot with no permission refused; and that user is refused all that
// is not reading sessions: publishing events or dead letters, streams,
// consumers over other subjects, and the services' durables.
func TestSessionStatsUser(t *testing.T) {
	violations := &violationLog{}
	url, pw := natsNode(t, violations)
	js, err := jetstream.New(connectUser(t, url, "bridge", pw["bridge"], violations))
	if err != nil {
		t.Fatal(err)
	}
	stream := natstest.DefaultStream(t, js) // as the bridge creates it
	publish := func(from, n int) {
		for i := from; i < from+n; i++ {
			natstest.Publish(t, js, stream, natstest.SessionBody(i, i%2 == 1))
		}
	}
	publish(0, 30)
	admin, err := jetstream.New(connectUser(t, url, "admin", pw["admin"], violations))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Live: 10 more sessions, then 5 more after a restart.
	for round, live := range []struct{ from, n, want int }{{30, 10, 40}, {40, 5, 45}} {
		r := clitest.Start(t, runStats(url, pw["session-stats"], dir), nil, nil)
		api := "http://" + r.Logs.Wait(t, "api listening")["addr"].(string)
		r.Logs.Wait(t, "caught up with the stream")
		if round == 0 {
			deleteConsumers(t, admin) // the ordered consumer starts again, and deletes its last
		}
		publish(live.from, live.n)
		want := int64(live.want)
		poll.Eventually(t, fmt.Sprintf("round %d: %d sessions counted", round, want), 15*time.Second,
			func() bool { return sessionCount(t, api) == want })
		if err := r.Stop(t); err != nil {
			t.Fatalf("session-stats as its user, round %d: %v\n%s", round, err, r.Logs)
		}
		if round == 1 && r.Logs.Find("resuming from the snapshot") == nil {
			t.Errorf("session-stats did not resume from its snapshot:\n%s", r.Logs)
		}
	}
	if v := violations.String(); v != "" {
		t.Fatalf("deploy/nats refused session-stats (or the bridge) something:\n%s", v)
	}

	checkRefused(t, url, "session-stats", pw["session-stats"], statsMustNot(t))
}

// checkRefused connects as user and checks that the server refuses it each
// of subjects: a publish, or a subscription for those written "sub X".
func checkRefused(t *testing.T, url, user, password string, subjects []string) {
	t.Helper()
	refused := &violationLog{}
	nc := connectUser(t, url, user, password, refused)
	for _, s := range subjects {
		if sub, ok := strings.CutPrefix(s, "sub "); ok {
			nc.Subscribe(sub, func(*nats.Msg) {})
			s = sub
		} else {
			nc.Publish(s, []byte("{}"))
		}
		if !poll.Within(2*time.Second, func() bool { return strings.Contains(refused.String(), fmt.Sprintf("%q", s)) }) {
			t.Errorf("the %s user was not refused %s", user, s)
		}
	}
}

// deleteConsumers deletes every consumer of the stream, as an operator may.
func deleteConsumers(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, broker.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	names := st.ConsumerNames(ctx)
	n := 0
	for name := range names.Name() {
		if err := js.DeleteConsumer(ctx, broker.DefaultStream, name); err != nil {
			t.Fatalf("delete consumer %s: %v", name, err)
		}
		n++
	}
	if err := names.Err(); err != nil || n == 0 {
		t.Fatalf("deleted %d consumers (%v), want session-stats' ordered consumer", n, err)
	}
}

var durableCreate = regexp.MustCompile(`^\$JS\.API\.CONSUMER\.CREATE\.STORYLANE\.([^.]+)\.`)

// statsMustNot lists what the session-stats user must be refused ("sub "
// for a subscription): among them, for every durable another user of
// accounts.conf may create, creating, reading through or deleting it.
func statsMustNot(t *testing.T) []string {
	t.Helper()
	out := []string{
		"storylane.session.known", "storylane.session.unknown", "storylane.invalid", "storylane.dlq.session-stats",
		"$JS.API.STREAM.CREATE.STORYLANE", "$JS.API.STREAM.UPDATE.STORYLANE", "$JS.API.STREAM.DELETE.STORYLANE",
		"$JS.API.STREAM.PURGE.STORYLANE", "$JS.API.STREAM.CREATE.SPY", "$JS.API.STREAM.MSG.DELETE.STORYLANE",
		"$JS.API.STREAM.MSG.GET.STORYLANE", "$JS.API.CONSUMER.CREATE.STORYLANE", "$JS.API.CONSUMER.CREATE.STORYLANE.spy",
		"$JS.API.CONSUMER.DURABLE.CREATE.STORYLANE.spy", "$JS.API.CONSUMER.CREATE.STORYLANE.spy.storylane.>",
		"$JS.API.CONSUMER.CREATE.STORYLANE.spy.storylane.invalid", "$JS.API.CONSUMER.CREATE.STORYLANE.spy.storylane.dlq.lead-sync",
		"$JS.ACK.STORYLANE.spy.1.1.1.1.0", "sub storylane.>", "sub _INBOX.bridge.>", "sub _INBOX.lead-sync.>",
	}
	opts, err := server.ProcessConfigFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	durables := map[string]bool{}
	for _, u := range opts.Users {
		if u.Username == "session-stats" || u.Permissions == nil || u.Permissions.Publish == nil {
			continue
		}
		for _, s := range u.Permissions.Publish.Allow {
			if m := durableCreate.FindStringSubmatch(s); m != nil && !durables[m[1]] {
				durables[m[1]] = true
				out = append(out, "$JS.API.CONSUMER.CREATE.STORYLANE."+m[1]+".storylane.session.*",
					"$JS.API.CONSUMER.DELETE.STORYLANE."+m[1], "$JS.API.CONSUMER.MSG.NEXT.STORYLANE."+m[1])
			}
		}
	}
	if len(durables) < 4 {
		t.Fatalf("accounts.conf names durables %v, want lead-sync's and session-archive's and their -redrive twins", durables)
	}
	return out
}
