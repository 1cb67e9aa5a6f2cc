package deploy_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// rendered is deploy/kubernetes as kustomize renders it, each resource
// decoded strictly (an unknown or misspelt field fails) into its API type.
type rendered struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	services     []corev1.Service
	budgets      []policyv1.PodDisruptionBudget
	namespaces   []corev1.Namespace
	policies     []networkingv1.NetworkPolicy
}

func render(t *testing.T) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), "kubernetes")
	if err != nil {
		t.Fatalf("kustomize build deploy/kubernetes: %v", err)
	}
	var out rendered
	for _, r := range resources.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		b := toJSON(t, m)
		var target any
		switch r.GetKind() {
		case "Deployment":
			out.deployments = append(out.deployments, appsv1.Deployment{})
			target = &out.deployments[len(out.deployments)-1]
		case "StatefulSet":
			out.statefulSets = append(out.statefulSets, appsv1.StatefulSet{})
			target = &out.statefulSets[len(out.statefulSets)-1]
		case "Service":
			out.services = append(out.services, corev1.Service{})
			target = &out.services[len(out.services)-1]
		case "PodDisruptionBudget":
			out.budgets = append(out.budgets, policyv1.PodDisruptionBudget{})
			target = &out.budgets[len(out.budgets)-1]
		case "NetworkPolicy":
			out.policies = append(out.policies, networkingv1.NetworkPolicy{})
			target = &out.policies[len(out.policies)-1]
		case "Namespace":
			out.namespaces = append(out.namespaces, corev1.Namespace{})
			target = &out.namespaces[len(out.namespaces)-1]
		default:
			t.Fatalf("deploy/kubernetes renders a %s, which this test does not know", r.GetKind())
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			t.Errorf("%s %s does not match the Kubernetes API: %v", r.GetKind(), r.GetName(), err)
		}
	}
	return out
}

// workload is what the checks need of a Deployment or a StatefulSet.
type workload struct {
	kind, name string
	labels     map[string]string
	pod        corev1.PodSpec
}

func (r rendered) workloads() []workload {
	var out []workload
	for _, d := range r.deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	for _, s := range r.statefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Template.Labels, s.Spec.Template.Spec})
	}
	return out
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	r := render(t)
	want := map[string]bool{"storylane-bridge": false, "storylane-edge": false, "lead-sync": false, "session-archive": false, "session-stats": false}
	for _, w := range r.workloads() {
		want[w.name] = true
		checkPod(t, w)
		if !hasBudget(r.budgets, w.labels) {
			t.Errorf("%s %s has no PodDisruptionBudget", w.kind, w.name)
		}
	}
	for name, found := range want {
		if !found {
			t.Errorf("deploy/kubernetes has no workload %s", name)
		}
	}
	for _, s := range r.services {
		if s.Namespace != "storylane" {
			t.Errorf("Service %s in namespace %q, want storylane", s.Name, s.Namespace)
		}
	}
}

func checkPod(t *testing.T, w workload) {
	t.Helper()
	p := w.pod
	if p.SecurityContext == nil || p.SecurityContext.RunAsNonRoot == nil || !*p.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: pod does not require a non-root user", w.name)
	}
	if p.TerminationGracePeriodSeconds == nil || *p.TerminationGracePeriodSeconds < 40 {
		t.Errorf("%s: termination grace period %v, want at least 40s for a graceful shutdown", w.name, p.TerminationGracePeriodSeconds)
	}
	for _, c := range p.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 {
			t.Errorf("%s/%s: want a read-only root, no privilege escalation and dropped capabilities", w.name, c.Name)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s/%s: readiness probe is not GET /readyz", w.name, c.Name)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s/%s: liveness probe is not GET /healthz", w.name, c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: want CPU and memory requests and a memory limit", w.name, c.Name)
		}
		if !strings.HasPrefix(c.Image, "ghcr.io/storylane-bridge/storylane-bridge:") {
			t.Errorf("%s/%s: image %q, want the one kustomize sets", w.name, c.Name, c.Image)
		}
		for _, e := range c.Env {
			if strings.Contains(e.Name, "PASSWORD") || strings.Contains(e.Name, "SECRET") && !strings.HasSuffix(e.Name, "_FILE") {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					t.Errorf("%s/%s: %s is not taken from a Secret", w.name, c.Name, e.Name)
				}
			}
		}
	}
}

func hasBudget(budgets []policyv1.PodDisruptionBudget, labels map[string]string) bool {
	for _, b := range budgets {
		if b.Spec.Selector == nil || len(b.Spec.Selector.MatchLabels) == 0 {
			continue
		}
		match := true
		for k, v := range b.Spec.Selector.MatchLabels {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}
