package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// covers reports whether the subject pattern outer matches every subject
// that inner matches.
func covers(outer, inner string) bool {
	o, in := strings.Split(outer, "."), strings.Split(inner, ".")
	for i, tok := range o {
		switch {
		case tok == ">":
			return i < len(in)
		case i >= len(in) || in[i] == ">":
			return false
		case tok != "*" && tok != in[i]:
			return false
		}
	}
	return len(o) == len(in)
}

func coveredBy(patterns []string, subject string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return covers(p, subject) })
}

// TestEmbeddedReaderMatchesDeployUsers keeps the embedded broker's listener
// (broker.ReaderPermissions) and deploy/nats's users in step: a listener
// client may publish everything lead-sync, session-archive and
// session-stats may, so that each works unchanged against either; it may
// publish none of the event subjects the bridge user holds, nor create or
// update the stream.
func TestEmbeddedReaderMatchesDeployUsers(t *testing.T) {
	natsEnv(t)
	opts, err := server.ProcessConfigFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	subjects := broker.Subjects{Prefix: broker.DefaultSubjectPrefix}
	reader := broker.ReaderPermissions(broker.DefaultStream, subjects).Publish
	for _, name := range []string{"lead-sync", "session-archive", "session-stats"} {
		for _, s := range users[name].Permissions.Publish.Allow {
			if !coveredBy(reader.Allow, s) {
				t.Errorf("deploy/nats's %s may publish %s, which a client of the embedded listener may not", name, s)
			}
		}
	}
	bridge := users["bridge"].Permissions.Publish.Allow
	for _, s := range subjects.EventSubjects() {
		if !slices.Contains(bridge, s) {
			t.Errorf("deploy/nats's bridge may not publish the event subject %s", s)
		}
		if coveredBy(reader.Allow, s) || !coveredBy(reader.Deny, s) {
			t.Errorf("ReaderPermissions allow %v deny %v: a listener client could publish the event subject %s", reader.Allow, reader.Deny, s)
		}
	}
	for _, s := range bridge {
		if strings.HasPrefix(s, "storylane.") && !slices.Contains(subjects.EventSubjects(), s) {
			t.Errorf("deploy/nats's bridge may publish %s, which is not an event subject", s)
		}
		if strings.HasPrefix(s, "$JS.API.STREAM.") && !strings.HasPrefix(s, "$JS.API.STREAM.INFO.") && coveredBy(reader.Allow, s) {
			t.Errorf("a client of the embedded listener may %s, which only the bridge may", s)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		outer, inner string
		want         bool
	}{
		{"a.b", "a.b", true},
		{"a.*", "a.b", true},
		{"a.*", "a.*", true},
		{"a.*", "a.>", false},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{"a.b", "a.*", false},
		{"a.*.c", "a.b.c", true},
		{"a.*", "a.b.c", false},
		{"$JS.ACK.*.*.S.>", "$JS.ACK.*.*.S.lead-sync.>", true},
	}
	for _, tt := range tests {
		if got := covers(tt.outer, tt.inner); got != tt.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tt.outer, tt.inner, got, tt.want)
		}
	}
}
