//go:build chart

package chart

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/bailiff/bailiff/pkg/config"
)

func TestLintPassesForEveryValuesCase(t *testing.T) {
	h := newHelm(t)
	for _, file := range append([]string{""}, valueCases(t)...) {
		name := file
		if name == "" {
			name = "chart defaults"
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", chartDir(t), "--strict", "--namespace", namespace}
			if file != "" {
				args = append(args, "--values", filepath.Join("testdata", "values", file))
			}
			if r := h.run(args...); r.err != nil {
				t.Fatalf("helm %s:\n%s", strings.Join(args, " "), r)
			}
		})
	}
}

// TestRenderedChartHoldsItsPromises renders every values case and checks what the
// chart promises whatever the values: restricted pods, the webhook's availability,
// safe webhook configurations, TLS wired per mode, least-privilege RBAC, consistent
// references between objects, and alerts on metrics that exist.
func TestRenderedChartHoldsItsPromises(t *testing.T) {
	h := newHelm(t)
	exported := exportedMetrics(t)
	for _, file := range valueCases(t) {
		t.Run(file, func(t *testing.T) {
			values := effectiveValues(t, file)
			m := parse(t, h.template(file))
			checkPods(t, m, values)
			checkWebhookAvailability(t, m, values)
			checkWebhookConfigurations(t, m, values)
			checkTLS(t, m, values)
			checkRBAC(t, m, values)
			checkServices(t, m)
			checkNetworkPolicies(t, m, values)
			checkMonitoring(t, m, values, exported)
		})
	}
}

// values is the chart's values.yaml with a test case laid over it.
type values map[string]any

func (v values) get(path string) any {
	var cur any = map[string]any(v)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func (v values) str(path string) string { s, _ := v.get(path).(string); return s }
func (v values) boolean(path string) bool {
	b, _ := v.get(path).(bool)
	return b
}
func (v values) num(path string) int { f, _ := v.get(path).(float64); return int(f) }
func (v values) strings(path string) []string {
	var out []string
	l, _ := v.get(path).([]any)
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// all returns every string leaf: the names of Secrets and claims made outside the chart.
func (v values) all() map[string]bool {
	out := map[string]bool{}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		case string:
			out[x] = true
		}
	}
	walk(map[string]any(v))
	return out
}

func effectiveValues(t *testing.T, file string) values {
	t.Helper()
	base := readYAMLMap(t, filepath.Join(chartDir(t), "values.yaml"))
	if file != "" {
		mergeInto(base, readYAMLMap(t, filepath.Join("testdata", "values", file)))
	}
	return values(base)
}

func readYAMLMap(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// mergeInto lays src over dst as helm does: maps merge, everything else replaces.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func deployments(t *testing.T, m manifests) map[string]appsv1.Deployment {
	t.Helper()
	out := map[string]appsv1.Deployment{}
	for _, o := range m.find("Deployment") {
		var d appsv1.Deployment
		o.into(t, &d)
		out[d.Name] = d
	}
	return out
}

func checkPods(t *testing.T, m manifests, v values) {
	external := v.all()
	certSecrets := map[string]bool{}
	for _, o := range m.find("Certificate") {
		var c struct {
			Spec struct {
				SecretName string `json:"secretName"`
			} `json:"spec"`
		}
		o.into(t, &c)
		certSecrets[c.Spec.SecretName] = true
	}
	for name, d := range deployments(t, m) {
		pod := d.Spec.Template.Spec
		if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
			psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: the pod must run as non-root with the RuntimeDefault seccomp profile: %+v", name, psc)
		}
		if !labelsMatch(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("%s: selector %v does not match its pods' labels %v", name, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
		}
		volumes := map[string]corev1.Volume{}
		for _, vol := range pod.Volumes {
			volumes[vol.Name] = vol
		}
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s/%s: the container must have a read-only root filesystem, no privilege escalation and no capabilities: %+v", name, c.Name, sc)
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[r]; !ok {
					t.Errorf("%s/%s: no %s request", name, c.Name, r)
				}
			}
			if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
				t.Errorf("%s/%s: no memory limit", name, c.Name)
			}
			for _, vm := range c.VolumeMounts {
				if _, ok := volumes[vm.Name]; !ok {
					t.Errorf("%s/%s: mounts volume %q, which the pod does not have", name, c.Name, vm.Name)
				}
			}
		}
		// Every Secret, ConfigMap and claim a pod needs is rendered, issued by a rendered
		// Certificate, or named in the values (made by whoever installs the chart).
		for _, vol := range pod.Volumes {
			var refs [][2]string
			switch {
			case vol.Secret != nil:
				refs = append(refs, [2]string{"Secret", vol.Secret.SecretName})
			case vol.PersistentVolumeClaim != nil:
				refs = append(refs, [2]string{"PersistentVolumeClaim", vol.PersistentVolumeClaim.ClaimName})
			case vol.ConfigMap != nil:
				refs = append(refs, [2]string{"ConfigMap", vol.ConfigMap.Name})
			case vol.Projected != nil:
				for _, s := range vol.Projected.Sources {
					if s.ConfigMap != nil {
						refs = append(refs, [2]string{"ConfigMap", s.ConfigMap.Name})
					}
				}
			}
			for _, ref := range refs {
				if !m.has(ref[0], ref[1]) && !(ref[0] == "Secret" && certSecrets[ref[1]]) && !external[ref[1]] {
					t.Errorf("%s: volume %q needs %s %q, which nothing creates", name, vol.Name, ref[0], ref[1])
				}
			}
		}
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func checkWebhookAvailability(t *testing.T, m manifests, v values) {
	d, ok := deployments(t, m)[release+"-webhook"]
	if !ok {
		t.Fatalf("no webhook Deployment; have %v", m.names())
	}
	if d.Spec.Replicas == nil || int(*d.Spec.Replicas) != v.num("webhook.replicas") || *d.Spec.Replicas < 2 {
		t.Errorf("webhook replicas = %v, want webhook.replicas (%d, at least 2)", d.Spec.Replicas, v.num("webhook.replicas"))
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("webhook upgrades must roll with maxUnavailable 0: %+v", d.Spec.Strategy)
	}
	pod := d.Spec.Template.Spec
	if len(pod.TopologySpreadConstraints) == 0 {
		t.Error("the webhook's pods are not spread across nodes or zones")
	}
	for _, c := range pod.TopologySpreadConstraints {
		if c.LabelSelector == nil || !labelsMatch(c.LabelSelector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("topology spread on %s does not select the webhook's pods: %+v", c.TopologyKey, c.LabelSelector)
		}
	}
	c := pod.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("the webhook must be ready only when /readyz says so: %+v", c.ReadinessProbe)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("the webhook must keep serving while its endpoint is removed (preStop sleep): %+v", c.Lifecycle)
	}
	trailQueue := false
	for _, vol := range pod.Volumes {
		if vol.Name == "trail-queue" && vol.EmptyDir != nil && vol.EmptyDir.SizeLimit != nil {
			trailQueue = true
		}
	}
	if !trailQueue {
		t.Error("the webhook's trail queue must be a size-limited emptyDir")
	}
	var pdb policyv1.PodDisruptionBudget
	m.get(t, "PodDisruptionBudget", release+"-webhook").into(t, &pdb)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || !labelsMatch(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the webhook's PodDisruptionBudget must keep one replica of its pods: %+v", pdb.Spec)
	}
	if v.boolean("auditor.enabled") {
		a := deployments(t, m)[release+"-audit"]
		if !slices.Contains(a.Spec.Template.Spec.Containers[0].Args, "--leader-elect=true") {
			t.Errorf("the auditor must elect a leader: %v", a.Spec.Template.Spec.Containers[0].Args)
		}
	}
}

// webhooks returns every webhook of both configurations with its kind.
func webhooks(t *testing.T, m manifests) (map[string]admissionregistrationv1.ValidatingWebhook, []object) {
	t.Helper()
	out := map[string]admissionregistrationv1.ValidatingWebhook{}
	var configs []object
	for _, o := range m.find("ValidatingWebhookConfiguration") {
		var c admissionregistrationv1.ValidatingWebhookConfiguration
		o.into(t, &c)
		for _, w := range c.Webhooks {
			out["validating/"+w.Name] = w
		}
		configs = append(configs, o)
	}
	for _, o := range m.find("MutatingWebhookConfiguration") {
		var c admissionregistrationv1.MutatingWebhookConfiguration
		o.into(t, &c)
		for _, w := range c.Webhooks {
			out["mutating/"+w.Name] = admissionregistrationv1.ValidatingWebhook{
				Name: w.Name, ClientConfig: w.ClientConfig, Rules: w.Rules, FailurePolicy: w.FailurePolicy,
				MatchPolicy: w.MatchPolicy, NamespaceSelector: w.NamespaceSelector, ObjectSelector: w.ObjectSelector,
				SideEffects: w.SideEffects, TimeoutSeconds: w.TimeoutSeconds, AdmissionReviewVersions: w.AdmissionReviewVersions,
				MatchConditions: w.MatchConditions,
			}
		}
		configs = append(configs, o)
	}
	return out, configs
}

// mutateOperations are the operations the mutating webhook must receive: those asked
// for, "*" meaning every one, but never DELETE.
func mutateOperations(v values) []string {
	ops := v.strings("webhook.operations")
	if slices.Contains(ops, "*") {
		ops = []string{"CREATE", "UPDATE", "CONNECT"}
	}
	return slices.DeleteFunc(slices.Clone(ops), func(op string) bool { return op == "DELETE" })
}

func checkWebhookConfigurations(t *testing.T, m manifests, v values) {
	hooks, _ := webhooks(t, m)
	want := []string{"validating/validate.bailiff.io"}
	if v.boolean("webhook.mutating") && len(mutateOperations(v)) > 0 {
		want = append(want, "mutating/mutate.bailiff.io")
	}
	var got []string
	for k := range hooks {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("webhooks = %v, want %v", got, want)
	}
	exempt := append([]string{"kube-system", namespace}, v.strings("exemptNamespaces")...)
	for key, w := range hooks {
		kind, _, _ := strings.Cut(key, "/")
		if w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects must be None", key)
		}
		if w.TimeoutSeconds == nil || int(*w.TimeoutSeconds) != v.num("webhook.timeoutSeconds") {
			t.Errorf("%s: timeoutSeconds = %v, want %d", key, w.TimeoutSeconds, v.num("webhook.timeoutSeconds"))
		}
		wantPolicy := v.str("webhook.failurePolicy.validate")
		path := "/validate"
		if kind == "mutating" {
			wantPolicy, path = v.str("webhook.failurePolicy.mutate"), "/mutate"
		}
		if w.FailurePolicy == nil || string(*w.FailurePolicy) != wantPolicy {
			t.Errorf("%s: failurePolicy = %v, want %s", key, w.FailurePolicy, wantPolicy)
		}
		excluded, ignoreLabel := map[string]bool{}, false
		if w.NamespaceSelector != nil {
			for _, e := range w.NamespaceSelector.MatchExpressions {
				if e.Key == "kubernetes.io/metadata.name" && e.Operator == "NotIn" {
					for _, n := range e.Values {
						excluded[n] = true
					}
				}
				if e.Key == "bailiff.io/ignore" && e.Operator == "NotIn" && slices.Equal(e.Values, []string{"true"}) {
					ignoreLabel = true
				}
			}
		}
		for _, n := range exempt {
			if !excluded[n] {
				t.Errorf("%s: namespace %s is not excluded by the namespaceSelector", key, n)
			}
		}
		if !ignoreLabel {
			t.Errorf("%s: namespaces labelled bailiff.io/ignore=true are not excluded", key)
		}
		conditions := map[string]string{}
		for _, c := range w.MatchConditions {
			conditions[c.Name] = c.Expression
		}
		if !strings.Contains(conditions["not-a-lease"], `"coordination.k8s.io"`) || !strings.Contains(conditions["not-an-event"], `"events"`) {
			t.Errorf("%s: matchConditions must skip leases and events: %v", key, conditions)
		}
		// Deletions reach the validating webhook when asked for, the mutating one never.
		wantOps := v.strings("webhook.operations")
		if kind == "mutating" {
			wantOps = mutateOperations(v)
		}
		for _, r := range w.Rules {
			for _, res := range r.Resources {
				if res == "*" || res == "secrets" || res == "configmaps" {
					t.Errorf("%s: the rules send %s to the webhook", key, res)
				}
			}
			var ops []string
			for _, op := range r.Operations {
				ops = append(ops, string(op))
			}
			if !slices.Equal(ops, wantOps) {
				t.Errorf("%s: operations = %v, want %v", key, ops, wantOps)
			}
		}
		switch url := v.str("webhook.url"); {
		case url != "":
			if w.ClientConfig.URL == nil || *w.ClientConfig.URL != strings.TrimSuffix(url, "/")+path {
				t.Errorf("%s: clientConfig.url = %v, want %s%s", key, w.ClientConfig.URL, url, path)
			}
		default:
			s := w.ClientConfig.Service
			if s == nil || s.Name != release+"-webhook" || s.Namespace != namespace || s.Path == nil || *s.Path != path ||
				s.Port == nil || int(*s.Port) != v.num("webhook.service.port") {
				t.Errorf("%s: clientConfig.service = %+v, want %s-webhook.%s:%d%s", key, s, release, namespace, v.num("webhook.service.port"), path)
			}
		}
	}
}

func checkTLS(t *testing.T, m manifests, v values) {
	hooks, configs := webhooks(t, m)
	d := deployments(t, m)[release+"-webhook"]
	var tlsVolume corev1.Volume
	for _, vol := range d.Spec.Template.Spec.Volumes {
		if vol.Name == "tls" {
			tlsVolume = vol
		}
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	mode := v.str("tls.mode")
	for _, o := range configs {
		var meta struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		o.into(t, &meta)
		inject := meta.Metadata.Annotations["cert-manager.io/inject-ca-from"]
		if mode == "cert-manager" {
			want := namespace + "/" + release + "-webhook-tls"
			if inject != want {
				t.Errorf("%s: cert-manager.io/inject-ca-from = %q, want %q", o, inject, want)
			}
		} else if inject != "" {
			t.Errorf("%s: inject-ca-from set in tls.mode=%s", o, mode)
		}
	}
	for key, w := range hooks {
		switch mode {
		case "secret":
			if string(w.ClientConfig.CABundle) == "" {
				t.Errorf("%s: no caBundle in tls.mode=secret", key)
			}
		default:
			if len(w.ClientConfig.CABundle) != 0 {
				t.Errorf("%s: caBundle set by the chart in tls.mode=%s (it is injected)", key, mode)
			}
		}
	}
	switch mode {
	case "cert-manager":
		var cert struct {
			Spec struct {
				SecretName string   `json:"secretName"`
				DNSNames   []string `json:"dnsNames"`
				IssuerRef  struct {
					Name, Kind string
				} `json:"issuerRef"`
			} `json:"spec"`
		}
		m.get(t, "Certificate", release+"-webhook-tls").into(t, &cert)
		if tlsVolume.Secret == nil || tlsVolume.Secret.SecretName != cert.Spec.SecretName {
			t.Errorf("the webhook serves from %+v, not the Certificate's Secret %s", tlsVolume, cert.Spec.SecretName)
		}
		if !slices.Contains(cert.Spec.DNSNames, release+"-webhook."+namespace+".svc") {
			t.Errorf("the serving certificate does not name the Service: %v", cert.Spec.DNSNames)
		}
		if ref := v.get("tls.certManager.issuerRef"); ref == nil || len(ref.(map[string]any)) == 0 {
			if cert.Spec.IssuerRef.Kind != "Issuer" || !m.has("Issuer", cert.Spec.IssuerRef.Name) {
				t.Errorf("the Certificate's issuer %+v is not rendered", cert.Spec.IssuerRef)
			}
			var ca struct {
				Spec struct {
					IsCA      bool `json:"isCA"`
					IssuerRef struct{ Name string }
				} `json:"spec"`
			}
			m.get(t, "Certificate", release+"-ca").into(t, &ca)
			if !ca.Spec.IsCA || !m.has("Issuer", ca.Spec.IssuerRef.Name) {
				t.Errorf("the CA Certificate is not a CA issued by a rendered Issuer: %+v", ca.Spec)
			}
		} else if cert.Spec.IssuerRef.Name != v.str("tls.certManager.issuerRef.name") || m.has("Issuer", release+"-selfsigned") {
			t.Errorf("tls.certManager.issuerRef must replace the chart's own CA: %+v", cert.Spec.IssuerRef)
		}
	case "self-managed":
		for _, flag := range []string{"--tls-self-managed", "--tls-secret=" + release + "-webhook-tls", "--validating-webhook-configuration=" + release} {
			if !slices.Contains(args, flag) {
				t.Errorf("self-managed TLS: webhook args lack %s: %v", flag, args)
			}
		}
		if tlsVolume.EmptyDir == nil {
			t.Errorf("self-managed TLS writes its certificate to an emptyDir, not %+v", tlsVolume)
		}
		if m.find("Certificate") != nil || m.find("Issuer") != nil {
			t.Error("self-managed TLS renders cert-manager objects")
		}
	case "secret":
		if tlsVolume.Secret == nil || tlsVolume.Secret.SecretName != v.str("tls.secretName") {
			t.Errorf("the webhook serves from %+v, want Secret %s", tlsVolume, v.str("tls.secretName"))
		}
	}
}

// writeVerbs change the cluster.
var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate", "approve"}

func checkRBAC(t *testing.T, m manifests, v values) {
	type role struct {
		kind, name string
		rules      []rbacv1.PolicyRule
	}
	var roles []role
	for _, kind := range []string{"Role", "ClusterRole"} {
		for _, o := range m.find(kind) {
			var r rbacv1.ClusterRole
			o.into(t, &r)
			roles = append(roles, role{kind, r.Name, r.Rules})
		}
	}
	for _, r := range roles {
		for i, rule := range r.rules {
			where := fmt.Sprintf("%s %s rules[%d]", r.kind, r.name, i)
			for _, x := range slices.Concat(rule.Verbs, rule.Resources, rule.APIGroups) {
				if x == "*" {
					t.Errorf("%s: wildcard in %+v", where, rule)
				}
			}
			writes := slices.ContainsFunc(rule.Verbs, func(v string) bool { return slices.Contains(writeVerbs, v) })
			for _, res := range rule.Resources {
				switch {
				case res == "secrets":
					// Only the self-managed TLS Secret by name, and pull secrets when asked for.
					byName := len(rule.ResourceNames) == 1 && rule.ResourceNames[0] == release+"-webhook-tls"
					pull := strings.HasSuffix(r.name, "-pull-secrets") && slices.Equal(rule.Verbs, []string{"get"})
					if !byName && !pull {
						t.Errorf("%s: grants %v on secrets", where, rule.Verbs)
					}
					if pull && !(v.boolean("webhook.pullSecrets.enabled") || v.boolean("scanner.pullSecrets")) {
						t.Errorf("%s: pull secrets are read although no pullSecrets value asks for it", where)
					}
				case !writes:
				case slices.Contains(rule.APIGroups, "wgpolicyk8s.io") && (res == "policyreports" || res == "clusterpolicyreports"):
				case slices.Contains(rule.APIGroups, "coordination.k8s.io") && res == "leases":
				case res == "events" && slices.Equal(rule.Verbs, []string{"create", "patch"}):
				case slices.Contains(rule.APIGroups, "admissionregistration.k8s.io") && slices.Equal(rule.ResourceNames, []string{release}) && v.str("tls.mode") == "self-managed":
				default:
					t.Errorf("%s: writes %s (%v)", where, res, rule.Verbs)
				}
				// A write rule beyond create must be limited to Bailiff's own objects by name.
				if res != "events" && writes && !slices.Equal(rule.Verbs, []string{"create"}) && len(rule.ResourceNames) == 0 {
					t.Errorf("%s: %v on %s is not limited by resourceNames", where, rule.Verbs, res)
				}
			}
		}
	}
	var webhookRole rbacv1.ClusterRole
	m.get(t, "ClusterRole", release+"-webhook").into(t, &webhookRole)
	var reads []string
	for _, rule := range webhookRole.Rules {
		reads = append(reads, rule.Resources...)
		if !slices.Equal(rule.Verbs, []string{"get", "list", "watch"}) {
			t.Errorf("the webhook's ClusterRole does more than read: %+v", rule)
		}
	}
	if sort.Strings(reads); !slices.Equal(reads, []string{"namespaces", "storageclasses"}) {
		t.Errorf("the webhook's ClusterRole reads %v, want namespaces and storageclasses only", reads)
	}
	for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
		for _, o := range m.find(kind) {
			var b rbacv1.RoleBinding
			o.into(t, &b)
			if !m.has(b.RoleRef.Kind, b.RoleRef.Name) {
				t.Errorf("%s %s binds %s %s, which is not rendered", kind, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			for _, s := range b.Subjects {
				if s.Kind != "ServiceAccount" || s.Namespace != namespace || !m.has("ServiceAccount", s.Name) {
					t.Errorf("%s %s binds %+v, not one of the chart's ServiceAccounts", kind, b.Name, s)
				}
			}
		}
	}
	for _, o := range m.find("ServiceAccount") {
		var sa corev1.ServiceAccount
		o.into(t, &sa)
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s mounts its token by default", sa.Name)
		}
	}
	if v.boolean("auditor.enabled") {
		var read rbacv1.ClusterRole
		m.get(t, "ClusterRole", release+"-audit-read").into(t, &read)
		have := map[string]bool{}
		for _, rule := range read.Rules {
			for _, res := range rule.Resources {
				have[res] = true
			}
		}
		for _, res := range []string{"pods", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs",
			"roles", "rolebindings", "clusterroles", "clusterrolebindings", "persistentvolumeclaims", "storageclasses", "namespaces"} {
			if !have[res] {
				t.Errorf("the auditor cannot read %s, which the policies target or read", res)
			}
		}
	}
}

func checkServices(t *testing.T, m manifests) {
	deps := deployments(t, m)
	for _, o := range m.find("Service") {
		var s corev1.Service
		o.into(t, &s)
		var target *appsv1.Deployment
		for _, d := range deps {
			if labelsMatch(s.Spec.Selector, d.Spec.Template.Labels) {
				target = &d
			}
		}
		if target == nil {
			t.Errorf("Service %s selects no rendered pods (%v)", s.Name, s.Spec.Selector)
			continue
		}
		for _, p := range s.Spec.Ports {
			found := false
			for _, c := range target.Spec.Template.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.Name == p.TargetPort.String() || int(cp.ContainerPort) == p.TargetPort.IntValue()
				}
			}
			if !found {
				t.Errorf("Service %s port %s targets %s, which %s does not expose", s.Name, p.Name, p.TargetPort.String(), target.Name)
			}
		}
	}
}

func checkNetworkPolicies(t *testing.T, m manifests, v values) {
	var policies []networkingv1.NetworkPolicy
	for _, o := range m.find("NetworkPolicy") {
		var np networkingv1.NetworkPolicy
		o.into(t, &np)
		policies = append(policies, np)
	}
	if !v.boolean("networkPolicy.enabled") {
		if len(policies) > 0 {
			t.Errorf("networkPolicy.enabled=false renders %d NetworkPolicies", len(policies))
		}
		return
	}
	for name, d := range deployments(t, m) {
		covered := false
		for _, np := range policies {
			if labelsMatch(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
				covered = true
				egress := slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
				if egress != v.boolean("networkPolicy.egress.enabled") {
					t.Errorf("NetworkPolicy %s: egress restricted = %v, want networkPolicy.egress.enabled", np.Name, egress)
				}
			}
		}
		if !covered {
			t.Errorf("no NetworkPolicy selects the pods of %s", name)
		}
	}
}

// metricName finds metric names in PromQL.
var metricName = regexp.MustCompile(`\b((?:bailiff|certmanager)_[a-z0-9_]+)`)

// assumedMetrics are used by the chart's alerts before a binary exports them (see the
// chart README, "What the chart assumes of the binaries").
var assumedMetrics = map[string]bool{"bailiff_tls_certificate_not_after_timestamp_seconds": true}

// externalMetrics are exported by what Bailiff runs beside.
var externalMetrics = map[string]bool{"certmanager_certificate_expiration_timestamp_seconds": true}

// exportedMetrics are the metric names Bailiff's binaries register, read from the source.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	name := regexp.MustCompile(`Name:\s+"(bailiff_[a-z0-9_]+)"`)
	root := repoPath(t)
	for _, dir := range []string{"webhook", "server", "pkg", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			for _, m := range name.FindAllSubmatch(b, -1) {
				out[string(m[1])] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !out["bailiff_admission_requests_total"] || !out["bailiff_audit_last_sweep_timestamp_seconds"] {
		t.Fatalf("could not read the metric names from the source: %v", out)
	}
	return out
}

func checkMetricNames(t *testing.T, where, expr string, exported map[string]bool) {
	for _, m := range metricName.FindAllString(expr, -1) {
		base := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suffix); ok && exported[b] {
				base = b
			}
		}
		if !exported[base] && !assumedMetrics[base] && !externalMetrics[base] {
			t.Errorf("%s uses %s, which no binary exports", where, m)
		}
	}
}

func checkMonitoring(t *testing.T, m manifests, v values, exported map[string]bool) {
	sms := m.find("ServiceMonitor")
	if v.boolean("monitoring.serviceMonitor.enabled") != (len(sms) > 0) {
		t.Errorf("monitoring.serviceMonitor.enabled=%v renders %d ServiceMonitors", v.boolean("monitoring.serviceMonitor.enabled"), len(sms))
	}
	for _, o := range sms {
		var sm struct {
			Spec struct {
				Selector  struct{ MatchLabels map[string]string } `json:"selector"`
				Endpoints []struct{ Port string }                 `json:"endpoints"`
			} `json:"spec"`
		}
		o.into(t, &sm)
		found := false
		for _, so := range m.find("Service") {
			var s corev1.Service
			so.into(t, &s)
			if labelsMatch(sm.Spec.Selector.MatchLabels, s.Labels) {
				for _, p := range s.Spec.Ports {
					found = found || p.Name == sm.Spec.Endpoints[0].Port
				}
			}
		}
		if !found {
			t.Errorf("ServiceMonitor %s selects no Service with port %s", o.name(), sm.Spec.Endpoints[0].Port)
		}
	}
	rules := m.find("PrometheusRule")
	if v.boolean("monitoring.prometheusRule.enabled") != (len(rules) == 1) {
		t.Errorf("monitoring.prometheusRule.enabled=%v renders %d PrometheusRules", v.boolean("monitoring.prometheusRule.enabled"), len(rules))
	}
	for _, o := range rules {
		var pr struct {
			Spec struct {
				Groups []struct {
					Rules []struct {
						Alert, Expr string
					}
				}
			} `json:"spec"`
		}
		o.into(t, &pr)
		alerts := map[string]bool{}
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				alerts[r.Alert] = true
				checkMetricNames(t, "alert "+r.Alert, r.Expr, exported)
			}
		}
		for _, want := range []string{"BailiffWebhookErrors", "BailiffWebhookSlow", "BailiffTrailBacklog", "BailiffServingCertificateExpiringSoon"} {
			if !alerts[want] {
				t.Errorf("no %s alert", want)
			}
		}
		if v.boolean("auditor.enabled") && !alerts["BailiffAuditStale"] {
			t.Error("no BailiffAuditStale alert")
		}
		if v.str("tls.mode") == "cert-manager" && !alerts["BailiffCertificateExpiringSoon"] {
			t.Error("no BailiffCertificateExpiringSoon alert in cert-manager mode")
		}
	}
	if !v.boolean("monitoring.dashboard.enabled") {
		return
	}
	o := m.get(t, "ConfigMap", release+"-dashboard")
	var cm corev1.ConfigMap
	o.into(t, &cm)
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("the dashboard ConfigMap lacks the grafana_dashboard label: %v", cm.Labels)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(cm.Data["bailiff.json"]), &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("the dashboard is not Grafana JSON with panels: %v", err)
	}
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			checkMetricNames(t, "dashboard panel "+p.Title, target.Expr, exported)
		}
	}
}

func TestSchemaRefusesBadValuesNamingTheField(t *testing.T) {
	h := newHelm(t)
	cases := []struct {
		name  string
		args  []string
		field string // as helm's schema validation names it
	}{
		{"a single webhook replica", []string{"--set", "webhook.replicas=1"}, "/webhook/replicas"},
		{"an unknown failure policy", []string{"--set", "webhook.failurePolicy.validate=Maybe"}, "/webhook/failurePolicy/validate"},
		{"a misspelt key", []string{"--set", "webhook.replica=3"}, "'replica'"},
		{"an unknown top-level key", []string{"--set", "webhok.replicas=3"}, "'webhok'"},
		{"a timeout the API server does not allow", []string{"--set", "webhook.timeoutSeconds=45"}, "/webhook/timeoutSeconds"},
		{"a duration that is not one", []string{"--set", "webhook.evaluationTimeout=3 seconds"}, "/webhook/evaluationTimeout"},
		{"a memory limit that is not a quantity", []string{"--set", "webhook.gc.memoryLimit=lots"}, "/webhook/gc/memoryLimit"},
		{"an unknown TLS mode", []string{"--set", "tls.mode=vault"}, "/tls/mode"},
		{"secret TLS without its Secret", []string{"--set", "tls.mode=secret"}, "/tls/secretName"},
		{"a CA bundle that is not base64", []string{"--set", "tls.mode=secret,tls.secretName=s,tls.caBundle=not base64!"}, "/tls/caBundle"},
		{"an unknown Pod Security level", []string{"--set", "config.podSecurity.level=strict"}, "/config/podSecurity/level"},
		{"the cluster inside config", []string{"--set", "config.cluster.name=x"}, "'cluster'"},
		{"an exemption without an expiry", []string{"--set-json", `config.exemptions=[{"policy":"BLF-IMG-001","namespace":"a","owner":"o","reason":"r"}]`}, "/config/exemptions/0"},
		{"a cluster name with a space", []string{"--set", "cluster.name=prod eu"}, "/cluster/name"},
		{"the latest tag", []string{"--set", "image.tag=latest"}, "/image/tag"},
		{"a policy file that is not Rego", []string{"--set-json", `policies={"team.txt":"package x"}`}, "/policies"},
		{"a webhook without a memory limit", []string{"--set", "webhook.resources.limits.memory=null"}, "/webhook/resources/limits"},
		{"two SQLite servers", []string{"--set", "server.enabled=true,server.replicas=2"}, "/server/replicas"},
		{"PostgreSQL without its DSN Secret", []string{"--set", "server.enabled=true,server.store.type=postgres"}, "/server/store/postgres/existingSecret"},
		{"a plain-HTTP trail server", []string{"--set", "trail.url=http://bailiff.example.com"}, "/trail/url"},
		{"a trail server without a token", []string{"--set", "trail.url=https://bailiff.example.com"}, "/trail/token/existingSecret"},
		{"a webhook URL that is not HTTPS", []string{"--set", "webhook.url=http://10.0.0.1:8443"}, "/webhook/url"},
		{"an unknown operation", []string{"--set-json", `webhook.operations=["CREATE","PUT"]`}, "/webhook/operations/1"},
		{"every operation and another", []string{"--set-json", `webhook.operations=["DELETE","*"]`}, "/webhook/operations"},
		{"an unknown log format", []string{"--set", "logFormat=xml"}, "/logFormat"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"template", release, chartDir(t), "--namespace", namespace}, apiVersions...), c.args...)
			r := h.run(args...)
			if r.err == nil {
				t.Fatalf("helm template %v succeeded; want a schema error naming %s", c.args, c.field)
			}
			if !strings.Contains(r.stderr, "values don't meet the specifications of the schema") || !strings.Contains(r.stderr, c.field) {
				t.Fatalf("helm template %v: the error does not name %s:\n%s", c.args, c.field, r.stderr)
			}
		})
	}
}

// The schema is the first check of a resources key, the webhook's configuration loader
// the authoritative one: the schema must never refuse a key the loader accepts, and must
// catch the usual mistakes at install time rather than when the webhook starts.
func TestSchemaResourceKeysAgreeWithTheConfigLoader(t *testing.T) {
	h := newHelm(t)
	const (
		valid      = "valid"       // both accept it
		mistake    = "mistake"     // both refuse it
		loaderOnly = "loader only" // the schema lets it through; the loader refuses it
	)
	cases := []struct {
		key  string
		want string
	}{
		{"requests.cpu", valid},
		{"requests.memory", valid},
		{"limits.memory", valid},
		{"limits.cpu", valid},
		{"requests.ephemeral-storage", valid},
		{"limits.hugepages-2Mi", valid},
		{"limits.hugepages-1Gi", valid},
		{"limits.hugepages-2048Ki", valid},
		{"limits.hugepages-0.5Gi", valid},
		{"limits.hugepages-2e3", valid},
		{"limits.hugepages-+2Mi", valid},
		{"limits.hugepages-2000m", valid},
		{"limits.hugepages-0", loaderOnly},
		{"limits.hugepages-2Mo", loaderOnly},
		{"limits.nvidia.com/gpu", valid},
		{"requests.example.com/fast_disk", valid},
		{"requests.cpus", mistake},
		{"limit.memory", mistake},
		{"limits.mem", mistake},
		{"requests", mistake},
		{"requests.CPU", mistake},
		{"limits.gpu", mistake},
		{"limits.nvidia.com/", mistake},
		{"limits./gpu", mistake},
		{"requests.hugepages-", mistake},
		{"requests.cpu ", mistake},
	}
	// Each key as a required resource and as a maximum (defaults share the maximum's
	// pattern; the loader checks all three alike).
	uses := []struct {
		config, value, field string
	}{
		{"resources:\n  require: [%q]\n", "config.resources.require=[%q]", "/config/resources/require/0"},
		{"resources:\n  max: {%q: 1000Ti}\n", `config.resources.max={%q:"1000Ti"}`, "/config/resources/max"},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			for _, use := range uses {
				_, err := config.Parse("config.yaml", []byte(fmt.Sprintf(use.config, c.key)))
				if loaderAccepts := err == nil; loaderAccepts != (c.want == valid) {
					t.Fatalf("the config loader accepts %q in %s: %v, want %s (%v)", c.key, use.field, loaderAccepts, c.want, err)
				}
				args := append(append([]string{"template", release, chartDir(t), "--namespace", namespace}, apiVersions...),
					"--set-json", fmt.Sprintf(use.value, c.key))
				r := h.run(args...)
				// A schema error names the field; the loader's own checks (a page size
				// of 0, say) are for the webhook to report.
				schemaRefuses := r.err != nil && strings.Contains(r.stderr, use.field)
				if r.err != nil && !schemaRefuses {
					t.Fatalf("helm template with %q in %s: %s", c.key, use.field, r.stderr)
				}
				if want := c.want == mistake; schemaRefuses != want {
					t.Errorf("the chart schema refuses %q in %s: %v, want %v (%s)\n%s", c.key, use.field, schemaRefuses, want, c.want, r.stderr)
				}
			}
		})
	}
}

func TestRenderingFailsWithWhatToDo(t *testing.T) {
	h := newHelm(t)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"cert-manager is not installed", nil,
			[]string{"does not serve cert-manager.io/v1", "install cert-manager", "tls.mode=self-managed"}},
		{"cert-manager turned off without another mode", append(slices.Clone(apiVersions), "--set", "tls.certManager.enabled=false"),
			[]string{"tls.mode=self-managed", "tls.mode=secret"}},
		{"monitoring without the prometheus-operator CRDs", []string{"--api-versions", "cert-manager.io/v1", "--set", "monitoring.prometheusRule.enabled=true"},
			[]string{"monitoring.coreos.com/v1"}},
		{"the scanner without cert-manager or a Secret", append(slices.Clone(apiVersions), "--set", "tls.mode=self-managed,scanner.enabled=true"),
			[]string{"scanner.tls.secretName"}},
		{"an out-of-cluster webhook without its CA", append(slices.Clone(apiVersions), "--set", "webhook.url=https://10.0.0.1:8443"),
			[]string{"tls.mode=secret", "tls.caBundle"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.run(append([]string{"template", release, chartDir(t), "--namespace", namespace}, c.args...)...)
			if r.err == nil {
				t.Fatalf("helm template %v succeeded", c.args)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestBailiffScanFindsNothingToDeny scans the rendered chart with Bailiff's own policies:
// with the built-in configuration (bailiff scan -f rendered.yaml, exit 0), and each case
// with the configuration and extra policies it installs.
func TestBailiffScanFindsNothingToDeny(t *testing.T) {
	h := newHelm(t)
	bin := bailiffBin(t)
	for _, file := range valueCases(t) {
		t.Run(file, func(t *testing.T) {
			dir := t.TempDir()
			rendered := h.template(file)
			manifest := filepath.Join(dir, "rendered.yaml")
			must(t, os.WriteFile(manifest, []byte(rendered), 0o600))
			runs := [][]string{{"scan", "-f", manifest}}
			if file != "defaults.yaml" {
				m := parse(t, rendered)
				cfg := filepath.Join(dir, "config.yaml")
				must(t, os.WriteFile(cfg, []byte(m.configMapData(t, release+"-config")["config.yaml"]), 0o600))
				args := []string{"scan", "-f", manifest, "--config", cfg}
				if policies := m.configMapData(t, release+"-policies"); len(policies) > 0 {
					pdir := filepath.Join(dir, "policies")
					must(t, os.Mkdir(pdir, 0o700))
					for name, src := range policies {
						must(t, os.WriteFile(filepath.Join(pdir, name), []byte(src), 0o600))
					}
					args = append(args, "--policies", pdir)
				}
				runs = [][]string{args}
			}
			for _, args := range runs {
				r := run(t, "", nil, bin, args...)
				if r.err != nil {
					t.Fatalf("bailiff %s must exit 0 (nothing denied):\n%s", strings.Join(args, " "), r)
				}
				if !strings.Contains(r.stdout, " 0 denied") {
					t.Fatalf("bailiff %s:\n%s", strings.Join(args, " "), r)
				}
			}
		})
	}
}

// assumedFlags are flags the chart passes that the binaries do not have yet (see the
// chart README, "What the chart assumes of the binaries"), by command.
var assumedFlags = map[string][]string{}

// TestEveryFlagTheChartPassesExists runs each command's --help and checks the chart
// passes only flags it has, or ones the README lists as assumed.
func TestEveryFlagTheChartPassesExists(t *testing.T) {
	h := newHelm(t)
	helps := map[string]string{}
	var mu sync.Mutex
	help := func(bin string, command []string) string {
		key := bin + " " + strings.Join(command, " ")
		mu.Lock()
		defer mu.Unlock()
		if s, ok := helps[key]; ok {
			return s
		}
		out, err := exec.Command(bin, append(command, "--help")...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s --help: %v\n%s", key, err, out)
		}
		helps[key] = string(out)
		return helps[key]
	}
	flagName := regexp.MustCompile(`^--[a-z0-9-]+`)
	stillAssumed := map[string]bool{}
	for _, file := range valueCases(t) {
		m := parse(t, h.template(file))
		for name, d := range deployments(t, m) {
			for _, c := range append(slices.Clone(d.Spec.Template.Spec.InitContainers), d.Spec.Template.Spec.Containers...) {
				bin, command := bailiffBin(t), []string{}
				if strings.Contains(c.Image, "bailiff-scanner") {
					bin = scannerBin(t)
				}
				var flags []string
				for _, a := range c.Args {
					if strings.HasPrefix(a, "--") {
						flags = append(flags, flagName.FindString(a))
					} else if len(flags) == 0 {
						command = append(command, a)
					}
				}
				text := help(bin, command)
				cmdName := strings.Join(command, " ")
				for _, f := range flags {
					if regexp.MustCompile(`(?m)^\s+(-[a-z], )?` + regexp.QuoteMeta(f) + `\b`).MatchString(text) {
						if slices.Contains(assumedFlags[cmdName], f) {
							t.Errorf("%s: %s %s exists now: drop it from assumedFlags and the README", file, cmdName, f)
						}
						continue
					}
					if slices.Contains(assumedFlags[cmdName], f) {
						stillAssumed[cmdName+" "+f] = true
						continue
					}
					t.Errorf("%s: %s/%s passes %s, which `%s %s` does not have", file, name, c.Name, f, filepath.Base(bin), cmdName)
				}
			}
		}
	}
	var assumed []string
	for f := range stillAssumed {
		assumed = append(assumed, f)
	}
	sort.Strings(assumed)
	t.Logf("flags the chart assumes the binaries will have: %v", assumed)
}

// TestEveryValueIsDocumented checks charts/bailiff/README.md names every value.
func TestEveryValueIsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chartDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Documented as a whole: Kubernetes structures and free-form maps.
	whole := map[string]bool{"resources": true, "podSecurityContext": true, "securityContext": true, "labels": true, "failurePolicy": false}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			path := strings.TrimPrefix(prefix+"."+k, ".")
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !whole[k] {
				walk(path, sub)
				continue
			}
			if !strings.Contains(string(readme), "`"+path+"`") {
				t.Errorf("charts/bailiff/README.md does not document `%s`", path)
			}
		}
	}
	walk("", readYAMLMap(t, filepath.Join(chartDir(t), "values.yaml")))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
