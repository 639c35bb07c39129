//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/test/logbuf"
)

// auditProcess is `bailiff audit` running as a user would run it.
type auditProcess struct {
	cmd  *exec.Cmd
	logs *logbuf.Buffer
	done chan error
}

func startAudit(t *testing.T, c *cluster, bin string, args ...string) *auditProcess {
	t.Helper()
	args = append([]string{"audit", "--kubeconfig", c.Kubeconfig, "--leader-elect=false",
		"--metrics-addr", "0", "--health-addr", "0", "--log-format", "text", "--debounce", "200ms"}, args...)
	p := &auditProcess{cmd: exec.Command(bin, args...), logs: &logbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	must(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *auditProcess) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("bailiff audit exited with %v\n%s", err, p.logs.String())
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("bailiff audit did not stop on SIGINT\n%s", p.logs.String())
	}
	p.cmd.ProcessState = &os.ProcessState{}
}

// auditObjects violate policies while no webhook is registered: a Deployment
// from an unapproved registry, a Role and a ClusterRole with wildcards.
const auditObjects = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: do-anything, namespace: shop}
rules:
  - {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: wildcard-reader}
rules:
  - {apiGroups: ["*"], resources: ["*"], verbs: [get, list]}
`

// TestAuditorOnARealAPIServer runs bailiff audit against objects admitted
// without Bailiff, and follows findings, reports and the trail as the
// objects are fixed and deleted.
func TestAuditorOnARealAPIServer(t *testing.T) {
	c := startCluster(t)
	bin := bailiffBinary(t)
	dir := t.TempDir()
	configFile := filepath.Join(dir, "config", "bailiff.yaml") // a directory of its own: it is watched for reloads
	must(t, os.MkdirAll(filepath.Dir(configFile), 0o755))
	must(t, os.WriteFile(configFile, []byte(fmt.Sprintf(e2eConfig, "eu-west-1")), 0o644))
	dbPath := filepath.Join(dir, "bailiff.db")
	dsn := "sqlite://" + dbPath

	crds, err := filepath.Abs("../../charts/bailiff/crds")
	must(t, err)
	c.mustKubectl("", "apply", "-f", crds)
	c.mustKubectl("", "wait", "--for", "condition=established", "--timeout", "60s",
		"crd/policyreports.wgpolicyk8s.io", "crd/clusterpolicyreports.wgpolicyk8s.io")
	c.mustKubectl(namespaces, "apply", "-f", "-")
	c.mustKubectl(deployment("shop", "web", "docker.io/library/nginx:1.27", true, true)+"---\n"+auditObjects, "apply", "-f", "-")

	// No controller manager runs here, so the ReplicaSet and Pod a
	// Deployment would get are made by hand: a template copy (never
	// reported) and a Pod with one violation of its own (reported as the
	// difference, naming the Deployment).
	uid := func(kind, name string) string {
		return c.mustKubectl("", "get", kind, name, "-n", "shop", "-o", "jsonpath={.metadata.uid}")
	}
	c.mustKubectl(ownedReplicaSet(uid("deployment", "web")), "apply", "-f", "-")
	c.mustKubectl(ownedPod(uid("replicaset", "web-5d8f7")), "apply", "-f", "-")

	a := startAudit(t, c, bin, "--store", dsn, "--config", configFile, "--interval", "1h")
	st, err := store.OpenSQLite(context.Background(), dbPath)
	must(t, err)
	t.Cleanup(func() { st.Close() })

	open := func(kind, namespace, name string) []store.Finding {
		t.Helper()
		page, err := st.Findings(context.Background(), store.FindingQuery{Cluster: "e2e", Kind: kind, Namespace: namespace, State: "open", Limit: 1000})
		must(t, err)
		var out []store.Finding
		for _, f := range page.Findings {
			if f.Name == name {
				out = append(out, f)
			}
		}
		return out
	}
	hasPolicy := func(fs []store.Finding, id string) bool {
		return slices.ContainsFunc(fs, func(f store.Finding) bool { return f.PolicyID == id })
	}
	waitAudit := func(what string, cond func() bool) {
		t.Helper()
		select {
		case err := <-a.done:
			t.Fatalf("bailiff audit exited: %v\n%s", err, a.logs.String())
		default:
		}
		waitUntil(t, what, cond)
	}

	t.Run("violations of objects admitted without Bailiff become findings", func(t *testing.T) {
		waitAudit("the Deployment's findings", func() bool { return hasPolicy(open("Deployment", "shop", "web"), "BLF-IMG-001") })
		waitAudit("the Role's findings", func() bool { return hasPolicy(open("Role", "shop", "do-anything"), "BLF-RBAC-001") })
		waitAudit("the ClusterRole's findings", func() bool { return len(open("ClusterRole", "", "wildcard-reader")) > 0 })
	})

	t.Run("a ReplicaSet copying its Deployment's template is not reported again", func(t *testing.T) {
		if fs := open("ReplicaSet", "shop", "web-5d8f7"); len(fs) > 0 {
			t.Fatalf("the ReplicaSet has findings of its own: %+v", fs)
		}
	})

	t.Run("a Pod reports only what its Deployment does not have", func(t *testing.T) {
		var fs []store.Finding
		waitAudit("the Pod's own findings", func() bool { fs = open("Pod", "shop", "web-5d8f7-abcde"); return len(fs) > 0 })
		for _, f := range fs {
			if f.PolicyID == "BLF-IMG-001" {
				t.Errorf("the Pod repeats its Deployment's violation: %+v", f)
			}
		}
		if !slices.ContainsFunc(fs, func(f store.Finding) bool { return strings.Contains(f.Message, "debug") }) {
			t.Errorf("the Pod's own container is not reported: %+v", fs)
		}
	})

	t.Run("PolicyReports list the failures, cluster-scoped ones in a ClusterPolicyReport", func(t *testing.T) {
		waitAudit("the shop PolicyReport", func() bool {
			r, ok := policyReport(c, "policyreport", "shop")
			return ok && r.has("fail", "BLF-IMG-001", "Deployment", "web") && r.has("fail", "BLF-RBAC-001", "Role", "do-anything")
		})
		r, _ := policyReport(c, "policyreport", "shop")
		if r.Summary["fail"] == 0 || r.Summary["pass"] == 0 {
			t.Errorf("summary %v should count failures and passes", r.Summary)
		}
		if r.Metadata.Annotations["bailiff.io/results-omitted"] == "" {
			t.Errorf("no results-omitted annotation: %v", r.Metadata.Annotations)
		}
		for _, res := range r.Results {
			if len(res.Resources) > 0 && res.Resources[0].Kind == "Pod" && res.Result == "fail" && res.Properties["owner"] != "Deployment/web" {
				t.Errorf("a Pod's result does not name its owner: %+v", res)
			}
		}
		waitAudit("the ClusterPolicyReport", func() bool {
			r, ok := policyReport(c, "clusterpolicyreport", "")
			return ok && r.Summary["fail"] > 0
		})
	})

	t.Run("fixing an object resolves its finding and the trail says so", func(t *testing.T) {
		c.mustKubectl(deployment("shop", "web", "registry.example.com/shop/web:1.2.3", true, true), "apply", "-f", "-")
		waitAudit("the finding to be resolved", func() bool { return !hasPolicy(open("Deployment", "shop", "web"), "BLF-IMG-001") })
		waitAudit("a resolved audit event", func() bool { return auditEvent(t, st, "resolved", "web", "BLF-IMG-001", "") })
		waitAudit("the report to drop the failure", func() bool {
			r, ok := policyReport(c, "policyreport", "shop")
			return ok && !r.has("fail", "BLF-IMG-001", "Deployment", "web")
		})
	})

	t.Run("deleting an object resolves its findings", func(t *testing.T) {
		c.mustKubectl("", "delete", "role", "do-anything", "-n", "shop")
		waitAudit("the Role's findings to be resolved", func() bool { return len(open("Role", "shop", "do-anything")) == 0 })
		waitAudit("a resolved audit event for the deletion", func() bool { return auditEvent(t, st, "resolved", "do-anything", "BLF-RBAC-001", "deleted") })
	})

	t.Run("a Namespace's labels re-evaluate the workloads in it", func(t *testing.T) {
		hasGeo := func() bool {
			return slices.ContainsFunc(open("Deployment", "shop", "web"), func(f store.Finding) bool { return strings.HasPrefix(f.PolicyID, "BLF-GEO-") })
		}
		if hasGeo() {
			t.Fatal("the Deployment has a placement finding before its namespace holds personal data")
		}
		c.mustKubectl("", "label", "namespace", "shop", "bailiff.io/data-class=personal")
		waitAudit("a placement finding once the namespace holds personal data", hasGeo)
		c.mustKubectl("", "label", "namespace", "shop", "bailiff.io/data-class-")
		waitAudit("the placement finding to be resolved", func() bool { return !hasGeo() })
	})

	t.Run("a configuration change sweeps everything with the new set", func(t *testing.T) {
		narrower := strings.Replace(fmt.Sprintf(e2eConfig, "eu-west-1"), "allowedRegistries: [registry.example.com, ghcr.io/acme]", "allowedRegistries: [ghcr.io/acme]", 1)
		if narrower == fmt.Sprintf(e2eConfig, "eu-west-1") {
			t.Fatal("the test's configuration edit did not apply")
		}
		must(t, os.WriteFile(configFile, []byte(narrower), 0o644))
		waitAudit("the unchanged Deployment's image to be refused by the new configuration", func() bool { return hasPolicy(open("Deployment", "shop", "web"), "BLF-IMG-001") })
		must(t, os.WriteFile(configFile, []byte(fmt.Sprintf(e2eConfig, "eu-west-1")), 0o644))
		waitAudit("the finding to be resolved with the old configuration back", func() bool { return !hasPolicy(open("Deployment", "shop", "web"), "BLF-IMG-001") })
	})

	t.Run("the trail the auditor wrote verifies", func(t *testing.T) {
		a.stop(t)
		out, err := exec.Command(bin, "trail", "verify", "--store", dsn, "--cluster", "e2e").CombinedOutput()
		if err != nil {
			t.Fatalf("bailiff trail verify: %v\n%s", err, out)
		}
		if !auditEvent(t, st, "opened", "web", "BLF-IMG-001", "") {
			t.Fatalf("no opened event for the Deployment's violation")
		}
	})
}

// auditEvent reports whether the trail holds an audit event with the
// decision about the object naming the policy (and with details naming the
// reason, if one is given).
func auditEvent(t *testing.T, st store.Store, decision, name, policyID, reason string) bool {
	t.Helper()
	page, err := st.Events(context.Background(), store.EventQuery{Cluster: "e2e", Source: "audit", Decision: decision, Limit: 1000})
	must(t, err)
	for _, e := range page.Events {
		if e.Name != name || !slices.ContainsFunc(e.Violations, func(v store.Violation) bool { return v.PolicyID == policyID }) {
			continue
		}
		if reason == "" || strings.Contains(string(e.Details), `"reason":"`+reason+`"`) {
			return true
		}
	}
	return false
}

// report is what the test reads of a PolicyReport.
type report struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Summary map[string]int `json:"summary"`
	Results []struct {
		Policy     string            `json:"policy"`
		Result     string            `json:"result"`
		Properties map[string]string `json:"properties"`
		Resources  []struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"resources"`
	} `json:"results"`
}

func (r report) has(result, policyID, kind, name string) bool {
	for _, res := range r.Results {
		if res.Result == result && res.Policy == policyID && len(res.Resources) > 0 && res.Resources[0].Kind == kind && res.Resources[0].Name == name {
			return true
		}
	}
	return false
}

// policyReport reads Bailiff's report of a namespace (or the cluster) with kubectl.
func policyReport(c *cluster, resource, namespace string) (report, bool) {
	args := []string{"get", resource, "bailiff-audit", "-o", "json"}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	out, _, err := c.kubectl("", args...)
	if err != nil {
		return report{}, false
	}
	var r report
	if json.Unmarshal([]byte(out), &r) != nil {
		return report{}, false
	}
	return r, true
}

func ownedReplicaSet(deploymentUID string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f7
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: %s, controller: true}]
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: app
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: app
          image: docker.io/library/nginx:1.27
          resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 128Mi}}
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`, deploymentUID)
}

// ownedPod is the ReplicaSet's Pod with a container injected by "someone
// else": privileged, which its Deployment is not.
func ownedPod(replicaSetUID string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f7-abcde
  namespace: shop
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f7, uid: %s, controller: true}]
spec:
  serviceAccountName: app
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: app
      image: docker.io/library/nginx:1.27
      resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 128Mi}}
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
    - name: debug
      image: registry.example.com/tools/debug:1.0
      resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 128Mi}}
      securityContext: {privileged: true, allowPrivilegeEscalation: true}
`, replicaSetUID)
}
