package deploy_test

import (
	"net/netip"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// peer is where a connection comes from: a pod of a namespace, or an
// address outside the cluster (namespace nil).
type peer struct {
	name      string
	namespace map[string]string
	pod       map[string]string
	ip        netip.Addr
}

var (
	fromMonitoring = peer{name: "Prometheus in namespace monitoring", namespace: map[string]string{"kubernetes.io/metadata.name": "monitoring"},
		pod: map[string]string{"app.kubernetes.io/name": "prometheus"}, ip: netip.MustParseAddr("10.244.3.7")}
	fromIngress = peer{name: "the ingress controller", namespace: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"},
		pod: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}, ip: netip.MustParseAddr("10.244.1.2")}
	fromNeighbour = peer{name: "another pod of namespace storylane", namespace: map[string]string{"kubernetes.io/metadata.name": "storylane"},
		pod: map[string]string{"app.kubernetes.io/name": "lead-sync"}, ip: netip.MustParseAddr("10.244.2.9")}
	fromOutside = peer{name: "an address outside the cluster", ip: netip.MustParseAddr("203.0.113.5")}
)

// TestNetworkPolicies: every pod takes its public port (the bridge's only)
// from anywhere, its admin port only from the monitoring namespace, and a
// dashboard port (session-stats') from any pod of the cluster, never from
// outside it.
func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	r := render(t)
	if len(r.policies) == 0 {
		t.Fatal("deploy/kubernetes renders no NetworkPolicy")
	}
	for _, w := range r.workloads() {
		for _, c := range w.pod.Containers {
			for _, port := range c.Ports {
				for _, p := range []peer{fromMonitoring, fromIngress, fromNeighbour, fromOutside} {
					want := port.Name == "http" || port.Name == "admin" && p.name == fromMonitoring.name ||
						port.Name == "dashboard" && p.namespace != nil
					if port.Name != "http" && port.Name != "admin" && port.Name != "dashboard" {
						t.Errorf("%s/%s: port %s is neither http, admin nor dashboard; say who may reach it", w.name, c.Name, port.Name)
					}
					if got := admits(t, r.policies, w.labels, port, p); got != want {
						t.Errorf("%s/%s port %s from %s: admitted %t, want %t", w.name, c.Name, port.Name, p.name, got, want)
					}
				}
			}
		}
	}
}

// admits evaluates the policies as Kubernetes does: a pod no policy selects
// takes anything; a selected one takes what some rule of some selecting
// policy allows.
func admits(t *testing.T, policies []networkingv1.NetworkPolicy, pod map[string]string, port corev1.ContainerPort, from peer) bool {
	t.Helper()
	selected := false
	for _, np := range policies {
		if np.Namespace != "storylane" {
			t.Errorf("NetworkPolicy %s in namespace %q, want storylane", np.Name, np.Namespace)
		}
		sel := np.Spec.PodSelector
		if !matches(t, sel.MatchLabels, len(sel.MatchExpressions), pod) || !hasIngress(np.Spec.PolicyTypes) {
			continue
		}
		selected = true
		for _, rule := range np.Spec.Ingress {
			if portAllowed(rule.Ports, port) && peerAllowed(t, rule.From, from) {
				return true
			}
		}
	}
	return !selected
}

func hasIngress(types []networkingv1.PolicyType) bool {
	for _, pt := range types {
		if pt == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return len(types) == 0
}

func portAllowed(ports []networkingv1.NetworkPolicyPort, port corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		// A port name always holds a letter, so it never reads as a number.
		if p.Port == nil || p.Port.String() == port.Name || p.Port.String() == strconv.Itoa(int(port.ContainerPort)) {
			return true
		}
	}
	return false
}

func peerAllowed(t *testing.T, peers []networkingv1.NetworkPolicyPeer, from peer) bool {
	t.Helper()
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			if ipAllowed(t, p.IPBlock, from.ip) {
				return true
			}
			continue
		}
		if from.namespace == nil {
			continue // selectors name pods; this comes from outside
		}
		nsOK := from.namespace["kubernetes.io/metadata.name"] == "storylane"
		if p.NamespaceSelector != nil {
			nsOK = matches(t, p.NamespaceSelector.MatchLabels, len(p.NamespaceSelector.MatchExpressions), from.namespace)
		}
		podOK := p.PodSelector == nil || matches(t, p.PodSelector.MatchLabels, len(p.PodSelector.MatchExpressions), from.pod)
		if nsOK && podOK {
			return true
		}
	}
	return false
}

func ipAllowed(t *testing.T, b *networkingv1.IPBlock, ip netip.Addr) bool {
	t.Helper()
	in := func(cidr string) bool {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			t.Errorf("ipBlock %q: %v", cidr, err)
			return false
		}
		return p.Contains(ip)
	}
	if !in(b.CIDR) {
		return false
	}
	for _, e := range b.Except {
		if in(e) {
			return false
		}
	}
	return true
}

// matches is a label selector of matchLabels only, which is all the
// manifests use; an expression fails the test rather than be misread.
func matches(t *testing.T, want map[string]string, expressions int, labels map[string]string) bool {
	t.Helper()
	if expressions > 0 {
		t.Fatal("a selector uses matchExpressions, which this test does not evaluate")
	}
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}
