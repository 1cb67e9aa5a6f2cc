package deploy_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// goMemLimit parses a GOMEMLIMIT value as the Go runtime does: a number of
// bytes with an optional B, KiB, MiB, GiB or TiB suffix.
func goMemLimit(s string) (int64, bool) {
	m := regexp.MustCompile(`^([0-9]+)(B|KiB|MiB|GiB|TiB)?$`).FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
	return n << shift, true
}

// checkMemLimit wants GOMEMLIMIT set to 70-95% of the memory limit: close
// enough that the runtime collects before the kernel kills, with room for
// what is not Go heap.
func checkMemLimit(t *testing.T, where, gomemlimit string, limit int64) {
	t.Helper()
	v, ok := goMemLimit(gomemlimit)
	if !ok || limit <= 0 || v < limit*70/100 || v > limit*95/100 {
		t.Errorf("%s: GOMEMLIMIT %q against a memory limit of %d bytes, want 70-95%% of it", where, gomemlimit, limit)
	}
}

func TestGoMemLimitFollowsTheMemoryLimit(t *testing.T) {
	t.Parallel()
	for _, w := range render(t).workloads() {
		for _, c := range w.pod.Containers {
			var v string
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					v = e.Value
				}
			}
			checkMemLimit(t, w.name+"/"+c.Name, v, c.Resources.Limits.Memory().Value())
		}
	}
	p, err := loadCompose(t, composeEnv())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bridge-1", "bridge-2", "session-stats"} {
		s := p.Services[name]
		v := s.Environment["GOMEMLIMIT"]
		if v == nil {
			t.Errorf("compose %s: no GOMEMLIMIT", name)
			continue
		}
		checkMemLimit(t, "compose "+name, *v, int64(s.MemLimit))
	}
	unit, err := os.ReadFile("systemd/storylane-bridge.service")
	if err != nil {
		t.Fatal(err)
	}
	var gomem string
	var max int64
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "Environment=GOMEMLIMIT="); ok {
			gomem = v
		}
		if v, ok := strings.CutPrefix(line, "MemoryMax="); ok && strings.HasSuffix(v, "M") {
			n, _ := strconv.ParseInt(strings.TrimSuffix(v, "M"), 10, 64)
			max = n << 20
		}
	}
	checkMemLimit(t, "systemd", gomem, max)
}

// TestTrustedProxiesAreSet: each artifact that puts the bridge behind a
// proxy trusts it, or per-client bounds would count all of Storylane as one
// client.
func TestTrustedProxiesAreSet(t *testing.T) {
	t.Parallel()
	for _, w := range render(t).workloads() {
		if w.name != "storylane-bridge" {
			continue
		}
		found := false
		for _, e := range w.pod.Containers[0].Env {
			found = found || e.Name == "BRIDGE_TRUSTED_PROXIES" && e.Value != ""
		}
		if !found {
			t.Error("kubernetes storylane-bridge: no BRIDGE_TRUSTED_PROXIES")
		}
	}
	p, err := loadCompose(t, composeEnv())
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Services["bridge-1"].Environment["BRIDGE_TRUSTED_PROXIES"]; v == nil || *v == "" {
		t.Error("compose bridge-1: no BRIDGE_TRUSTED_PROXIES")
	}
	unit, _ := os.ReadFile("systemd/storylane-bridge.service")
	if !strings.Contains(string(unit), "Environment=BRIDGE_TRUSTED_PROXIES=") {
		t.Error("systemd unit: no BRIDGE_TRUSTED_PROXIES")
	}
}
