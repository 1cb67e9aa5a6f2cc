package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const leafRemote = "nats-leaf://nats.nats.svc:7422"

func edgeSet(t *testing.T, r rendered) appsv1.StatefulSet {
	t.Helper()
	for _, s := range r.statefulSets {
		if s.Name == "storylane-edge" {
			return s
		}
	}
	t.Fatal("deploy/kubernetes has no StatefulSet storylane-edge")
	return appsv1.StatefulSet{}
}

func envVar(c corev1.Container, name string) (int, *corev1.EnvVar) {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return -1, nil
	}
	return i, &c.Env[i]
}

func argValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// TestEdgeStatefulSet: each edge pod has a stable name, which is its edge
// name and its leaf user's, a volume of its own, kept when the set shrinks,
// holding the data dir, a backlog budget that fits in it, a leaf link to
// the hub's leafnode Service, a local readiness, and a Service.
func TestEdgeStatefulSet(t *testing.T) {
	t.Parallel()
	r := render(t)
	s := edgeSet(t, r)
	c := s.Spec.Template.Spec.Containers[0]
	if len(s.Spec.VolumeClaimTemplates) != 1 || s.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Fatalf("storylane-edge volume claims %v, want one, data", s.Spec.VolumeClaimTemplates)
	}
	mount := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "data" })
	if mount < 0 || c.VolumeMounts[mount].MountPath != argValue(c.Args, "--data-dir") {
		t.Errorf("storylane-edge: --data-dir %q is not on its claim data (mounts %v)", argValue(c.Args, "--data-dir"), c.VolumeMounts)
	}
	if p := s.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("storylane-edge claim retention %+v, want Retain when scaled and deleted: a volume may hold an unforwarded backlog", p)
	}
	iName, name := envVar(c, "BRIDGE_EDGE_NAME")
	iUser, user := envVar(c, "BRIDGE_LEAF_USER")
	if name == nil || name.ValueFrom == nil || name.ValueFrom.FieldRef == nil || name.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("storylane-edge: BRIDGE_EDGE_NAME = %+v, want the pod's name (downward API)", name)
	}
	if user == nil || user.Value != "$(BRIDGE_EDGE_NAME)" || iUser < iName {
		t.Errorf("storylane-edge: BRIDGE_LEAF_USER = %+v, want $(BRIDGE_EDGE_NAME), listed after it", user)
	}
	if got := argValue(c.Args, "--leaf-remote"); got != leafRemote {
		t.Errorf("storylane-edge --leaf-remote %q, want the hub's leafnode Service %s", got, leafRemote)
	}
	if argValue(c.Args, "--nats-listen") != "none" {
		t.Errorf("storylane-edge --nats-listen %q, want none: consumers read from the hub", argValue(c.Args, "--nats-listen"))
	}
	_, budget := envVar(c, "BRIDGE_EDGE_MAX_BYTES")
	volume := s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().Value()
	if budget == nil || budget.Value == "" || float64(mustInt(t, budget.Value)) > 0.85*float64(volume) {
		t.Errorf("storylane-edge: BRIDGE_EDGE_MAX_BYTES %+v, want at most 85%% of its %d-byte volume", budget, volume)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Error("storylane-edge: no preStop pause: the pod would close while the Service still sends to it")
	}
	// Draining relabels a pod out of the Service, never out of the set.
	const intake = "storylane-bridge/intake"
	found := false
	for _, svc := range r.services {
		found = found || svc.Name == s.Spec.ServiceName && svc.Spec.Selector["app.kubernetes.io/name"] == "storylane-edge" &&
			svc.Spec.Selector[intake] == "on"
	}
	if !found || s.Spec.Template.Labels[intake] != "on" || s.Spec.Selector.MatchLabels[intake] != "" {
		t.Errorf("storylane-edge: want a Service %s selecting its pods with %s=on, which they have and the set does not select by",
			s.Spec.ServiceName, intake)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// TestHelmHub: the Helm values make the NATS cluster the edges' hub
// (domain hub, leafnodes on the port edge.yaml dials), and give every pod
// of edge.yaml a leaf user held to its own edge's rights; the values'
// accounts, loaded by nats-server, are checked as hub.conf's are, and
// every password they read is given to the nodes.
func TestHelmHub(t *testing.T) {
	hubEnv(t)
	var values struct {
		Config struct {
			JetStream struct {
				Merge map[string]any `json:"merge"`
			} `json:"jetstream"`
			Leafnodes struct {
				Enabled bool `json:"enabled"`
				Port    int  `json:"port"`
			} `json:"leafnodes"`
		} `json:"config"`
		Container struct {
			Env map[string]any `json:"env"`
		} `json:"container"`
	}
	helmValues(t, &values)
	if values.Config.JetStream.Merge["domain"] != "hub" || !values.Config.Leafnodes.Enabled || !strings.HasSuffix(leafRemote, fmt.Sprint(":", values.Config.Leafnodes.Port)) {
		t.Errorf("nats-values.yaml: jetstream merge %v, leafnodes %+v; want domain hub and leafnodes where edge.yaml dials (%s)",
			values.Config.JetStream.Merge, values.Config.Leafnodes, leafRemote)
	}
	raw, err := os.ReadFile("kubernetes/nats-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`<< \$(NATS_[A-Z_]+_PASSWORD) >>`).FindAllSubmatch(raw, -1)
	for _, m := range vars {
		if values.Container.Env[string(m[1])] == nil {
			t.Errorf("nats-values.yaml does not give the nodes %s", m[1])
		}
	}
	if len(vars) < 9 {
		t.Errorf("nats-values.yaml reads %d passwords, want one per user", len(vars))
	}
	// JSON is nats.conf syntax too, but for its \u escapes.
	var text bytes.Buffer
	enc := json.NewEncoder(&text)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(helmAccounts(t)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "helm-accounts.conf")
	if err := os.WriteFile(file, text.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats-server would refuse nats-values.yaml's accounts: %v", err)
	}
	var leaf []string
	for _, u := range opts.Users {
		if u.Permissions == nil || u.Permissions.Publish == nil || !slices.ContainsFunc(u.Permissions.Publish.Allow,
			func(s string) bool { return strings.HasPrefix(s, "edge-sourcing.") }) {
			continue
		}
		leaf = append(leaf, u.Username)
		if want := edgePermissions(u.Username); permString(u.Permissions) != permString(want) || u.Account.Name != "STORYLANE" {
			t.Errorf("nats-values.yaml leaf user %s: %s, want %s", u.Username, permString(u.Permissions), permString(want))
		}
	}
	s := edgeSet(t, render(t))
	var pods []string
	for i := range *s.Spec.Replicas {
		pods = append(pods, fmt.Sprintf("%s-%d", s.Name, i))
	}
	if slices.Sort(leaf); !slices.Equal(leaf, pods) {
		t.Errorf("nats-values.yaml has leaf users %v, want one per pod of edge.yaml: %v", leaf, pods)
	}
}
