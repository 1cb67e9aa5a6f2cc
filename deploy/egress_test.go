package deploy_test

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// destination is where a pod connects to, and on which port.
type destination struct {
	peer
	proto corev1.Protocol
	port  int32
}

var (
	toNATS = destination{peer{name: "NATS", namespace: map[string]string{"kubernetes.io/metadata.name": "nats"},
		pod: map[string]string{"app.kubernetes.io/name": "nats"}, ip: netip.MustParseAddr("10.244.4.4")}, corev1.ProtocolTCP, 4222}
	toNATSRoutes = destination{toNATS.peer, corev1.ProtocolTCP, 6222}
	toNATSLeaf   = destination{toNATS.peer, corev1.ProtocolTCP, 7422}
	toDNS        = destination{peer{name: "the cluster's DNS", namespace: map[string]string{"kubernetes.io/metadata.name": "kube-system"},
		pod: map[string]string{"k8s-app": "kube-dns"}, ip: netip.MustParseAddr("10.244.0.10")}, corev1.ProtocolUDP, 53}
	toBridge = destination{peer{name: "the bridge", namespace: map[string]string{"kubernetes.io/metadata.name": "storylane"},
		pod: map[string]string{"app.kubernetes.io/name": "storylane-bridge"}, ip: netip.MustParseAddr("10.244.2.3")}, corev1.ProtocolTCP, 8080}
	toInternet = destination{peer{name: "a host on the internet", ip: netip.MustParseAddr("203.0.113.5")}, corev1.ProtocolTCP, 443}
)

// TestEgressPolicies: session-stats reaches NATS's client port and the
// DNS, and nothing else; an edge bridge reaches the hub's leafnode port and
// the DNS, and nothing else; every other workload reaches anything
// (lead-sync its CRM, wherever that is).
func TestEgressPolicies(t *testing.T) {
	t.Parallel()
	r := render(t)
	only := map[string][]destination{"session-stats": {toNATS, toDNS}, "storylane-edge": {toNATSLeaf, toDNS}}
	for _, w := range r.workloads() {
		for _, d := range []destination{toNATS, toNATSRoutes, toNATSLeaf, toDNS, toBridge, toInternet} {
			allowed, restricted := only[w.name]
			want := !restricted || slices.ContainsFunc(allowed, func(a destination) bool { return a.name == d.name && a.port == d.port })
			if got := reaches(t, r.policies, w.labels, d); got != want {
				t.Errorf("%s to %s port %s/%d: allowed %t, want %t", w.name, d.name, d.proto, d.port, got, want)
			}
		}
	}
}

// reaches evaluates the policies' egress rules as Kubernetes does.
func reaches(t *testing.T, policies []networkingv1.NetworkPolicy, pod map[string]string, d destination) bool {
	t.Helper()
	selected := false
	for _, np := range policies {
		sel := np.Spec.PodSelector
		if !matches(t, sel.MatchLabels, len(sel.MatchExpressions), pod) || !hasEgress(np.Spec.PolicyTypes, np.Spec.Egress) {
			continue
		}
		selected = true
		for _, rule := range np.Spec.Egress {
			if egressPortAllowed(rule.Ports, d) && peerAllowed(t, rule.To, d.peer) {
				return true
			}
		}
	}
	return !selected
}

// hasEgress: a policy without policyTypes restricts egress only when it
// has egress rules.
func hasEgress(types []networkingv1.PolicyType, rules []networkingv1.NetworkPolicyEgressRule) bool {
	for _, pt := range types {
		if pt == networkingv1.PolicyTypeEgress {
			return true
		}
	}
	return len(types) == 0 && len(rules) > 0
}

func egressPortAllowed(ports []networkingv1.NetworkPolicyPort, d destination) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto == d.proto && (p.Port == nil || p.Port.IntValue() == int(d.port)) {
			return true
		}
	}
	return false
}
