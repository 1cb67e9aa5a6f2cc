package deploy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// leafOp is one thing a leaf connection sends the hub: a message ("pub")
// or an interest ("sub", which asks the hub to send it the subject's
// messages).
type leafOp struct{ kind, subject string }

func (o leafOp) String() string { return o.kind + " " + o.subject }

// leafAnswer connects to the hub's leafnode listener at addr as user, as a
// leaf node with no deny list of its own would (a tampered or hostile
// edge), sends op, and returns the hub's error (refusing the connection or
// op), "" when it took op.
func leafAnswer(t *testing.T, addr, user, password string, op leafOp) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("leafnode listener said %q (%v), want its INFO", line, err)
	}
	connect, _ := json.Marshal(map[string]any{"user": user, "pass": password, "name": "rogue-" + user, "headers": true})
	fmt.Fprintf(c, "CONNECT %s\r\nPING\r\n", connect)
	if e := untilPong(t, r); e != "" {
		return e
	}
	switch op.kind {
	case "pub":
		fmt.Fprintf(c, "LMSG %s 2\r\n{}\r\nPING\r\n", op.subject)
	case "sub":
		fmt.Fprintf(c, "LS+ %s\r\nPING\r\n", op.subject)
	default:
		t.Fatalf("leaf op %q", op.kind)
	}
	return untilPong(t, r)
}

// untilPong reads until PONG, returning "", or an -ERR, returning it.
func untilPong(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Sprintf("connection ended: %v", err)
		}
		switch line = strings.TrimSpace(line); {
		case line == "PONG":
			return ""
		case strings.HasPrefix(line, "-ERR"):
			return line
		}
	}
}

// TestLeafUserLeastPrivilege: an edge's leaf user, even on a leaf node
// that denies nothing itself, is refused by the hub everything but its
// own edge's part of durable sourcing: no events into the hub's stream,
// no hub API, no other edge's deliveries or API, nobody else's replies.
func TestLeafUserLeastPrivilege(t *testing.T) {
	log := &violationLog{}
	_, leafAddr, pw := hubNode(t, log)
	allowed := []leafOp{{"pub", "edge-sourcing.edge-a.STORYLANE"}, {"pub", "$JSC.R.edge-edge-a.AbCd.STORYLANE.HUB.aB3dE6gH9"}, {"pub", "_INBOX.storylane-hub.x.1"},
		{"pub", "_INBOX.admin.x.1"}, {"sub", "$JS.edge-edge-a.API.CONSUMER.INFO.STORYLANE.HUB"}, {"sub", "$JS.FC.edge-edge-a.AbCd.STORYLANE.HUB.aB3dE6gH9"}}
	refused := []leafOp{
		{"pub", "storylane.session.known"}, {"pub", "storylane.session.unknown"}, {"pub", "storylane.invalid"},
		{"pub", "storylane.dlq.lead-sync"}, {"pub", "$JS.API.STREAM.DELETE.STORYLANE"}, {"pub", "$JS.hub.API.STREAM.PURGE.STORYLANE"},
		{"pub", "$JS.API.CONSUMER.CREATE.STORYLANE.spy"}, {"pub", "$JS.edge-edge-b.API.STREAM.DELETE.STORYLANE"},
		{"pub", "edge-sourcing.edge-b.STORYLANE"}, {"pub", "_INBOX.lead-sync.x.1"}, {"pub", "$JS.ACK.STORYLANE.lead-sync.1.1.1.1.0"},
		{"sub", "storylane.session.known"}, {"sub", "storylane.dlq.lead-sync"}, {"sub", "edge-sourcing.edge-b.STORYLANE"},
		{"sub", "$JS.edge-edge-b.API.CONSUMER.INFO.STORYLANE.HUB"}, {"sub", "$JS.API.STREAM.INFO.STORYLANE"},
		{"sub", "_INBOX.admin.x.1"}, {"sub", "_INBOX.storylane-hub.x.1"}, {"sub", "$JSC.R.aB3dE6gH9"},
		{"sub", "$JS.FC.STORYLANE.HUB.aB3dE6gH9"}, {"sub", "$JS.FC.edge-edge-b.AbCd.STORYLANE.HUB.aB3dE6gH9"},
		{"pub", "$JSC.R.aB3dE6gH9"}, {"pub", "$JSC.R.edge-edge-b.AbCd.STORYLANE.HUB.aB3dE6gH9"},
	}
	for _, op := range allowed {
		if e := leafAnswer(t, leafAddr, "edge-a", pw["edge-a"], op); e != "" {
			t.Errorf("leaf user edge-a: %s refused (%s), want taken", op, e)
		}
	}
	for _, op := range refused {
		if e := leafAnswer(t, leafAddr, "edge-a", pw["edge-a"], op); !strings.Contains(e, "Permissions Violation") {
			t.Errorf("leaf user edge-a: %s answered %q, want a permissions violation", op, e)
		}
	}
	if e := leafAnswer(t, leafAddr, "edge-a", pw["edge-b"], leafOp{"pub", "edge-sourcing.edge-b.STORYLANE"}); !strings.Contains(e, "Authorization Violation") {
		t.Errorf("leaf user edge-a with edge-b's password: %q, want an authorization violation", e)
	}
}

// TestStorylaneHubUserLeastPrivilege: storylane-hub's user may set up the
// hub's stream and ask edges for their HUB consumer, and is refused events,
// deletes, purges and the edges' streams.
func TestStorylaneHubUserLeastPrivilege(t *testing.T) {
	url, _, pw := hubNode(t, &violationLog{})
	checkRefused(t, url, "storylane-hub", pw["storylane-hub"], []string{"storylane.session.known", "storylane.dlq.lead-sync",
		"$JS.API.STREAM.DELETE.STORYLANE", "$JS.API.STREAM.PURGE.STORYLANE", "$JS.API.STREAM.MSG.GET.STORYLANE", "$JS.API.STREAM.CREATE.SPY",
		"$JS.API.CONSUMER.CREATE.STORYLANE.spy", "$JS.edge-edge-a.API.STREAM.DELETE.STORYLANE",
		"$JS.edge-edge-a.API.CONSUMER.DELETE.STORYLANE.HUB", "$JS.edge-edge-a.API.STREAM.PURGE.STORYLANE",
		"sub storylane.>", "sub edge-sourcing.edge-a.STORYLANE", "sub _INBOX.admin.>"})
}
