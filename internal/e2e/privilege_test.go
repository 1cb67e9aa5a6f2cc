package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
)

// violations connects as user and collects the permission errors the
// server reports.
type violations struct {
	mu   sync.Mutex
	errs []string
	nc   *nats.Conn
}

func connectAs(t *testing.T, c *cluster, user string) *violations {
	t.Helper()
	v := &violations{}
	nc, err := nats.Connect(c.urls(), nats.UserInfo(user, c.passwords[user]), nats.CustomInboxPrefix("_INBOX."+user),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.errs = append(v.errs, err.Error())
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	v.nc = nc
	return v
}

// refused reports whether the server refused an action on subject.
func (v *violations) refused(subject string) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		v.mu.Lock()
		for _, e := range v.errs {
			if strings.Contains(e, "Permissions Violation") && strings.Contains(e, subject) {
				v.mu.Unlock()
				return true
			}
		}
		v.mu.Unlock()
	}
	return false
}

// TestLeastPrivilege checks the users of deploy/nats against a real
// cluster: each may do its job and is refused the rest.
func TestLeastPrivilege(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	c := startCluster(t)
	port := freePorts(t, 1)[0]
	c.startBridge(t, port) // creates the stream as the bridge user
	l := newLoad(5, 50, 5000, fmt.Sprintf("http://127.0.0.1:%d", port))
	l.run(t, nil)

	bridge := connectAs(t, c, "bridge")
	bridge.nc.Subscribe("storylane.>", func(*nats.Msg) {})
	bridge.nc.Publish("storylane.dlq.lead-sync", []byte("x"))
	bridge.nc.Publish("$JS.API.CONSUMER.CREATE.STORYLANE.spy", []byte("{}"))
	for _, s := range []string{"storylane.>", "storylane.dlq.lead-sync", "$JS.API.CONSUMER.CREATE.STORYLANE.spy"} {
		if !bridge.refused(s) {
			t.Errorf("the bridge user was not refused %s", s)
		}
	}

	lead := connectAs(t, c, "lead-sync")
	lead.nc.Publish("storylane.session.known", []byte("forged"))
	lead.nc.Publish("storylane.dlq.session-archive", []byte("x"))
	lead.nc.Publish("$JS.API.CONSUMER.MSG.NEXT.STORYLANE.session-archive", []byte("1"))
	lead.nc.Publish("$JS.API.STREAM.DELETE.STORYLANE", nil)
	lead.nc.Subscribe("_INBOX.bridge.>", func(*nats.Msg) {})
	for _, s := range []string{"storylane.session.known", "storylane.dlq.session-archive",
		"$JS.API.CONSUMER.MSG.NEXT.STORYLANE.session-archive", "$JS.API.STREAM.DELETE.STORYLANE", "_INBOX.bridge.>"} {
		if !lead.refused(s) {
			t.Errorf("the lead-sync user was not refused %s", s)
		}
	}

	tail := connectAs(t, c, "tail")
	tail.nc.Publish("$JS.API.CONSUMER.MSG.NEXT.STORYLANE.lead-sync", []byte("1"))
	tail.nc.Publish("storylane.invalid", []byte("x"))
	for _, s := range []string{"$JS.API.CONSUMER.MSG.NEXT.STORYLANE.lead-sync", "storylane.invalid"} {
		if !tail.refused(s) {
			t.Errorf("the tail user was not refused %s", s)
		}
	}

	// What each may do, it can: the tail reads history as its user.
	p := clitest.StartProcess(t, binary("storylane-tail"), c.userEnv("tail"), "--from-start", "--count", "5", "--format", "json")
	if code := p.Exit(t); code != 0 || strings.Count(p.Logs.String(), `"specversion"`) != 5 {
		t.Errorf("storylane-tail as the tail user exited %d printing %q, want the 5 sessions", code, p.Logs)
	}
	// The admin user manages everything in the account.
	js, err := jetstream.New(c.adminConn())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(ctx, "STORYLANE", jetstream.ConsumerConfig{Durable: "ops-check"}); err != nil {
		t.Errorf("the admin user cannot create a consumer: %v", err)
	}
}
