//go:build chart

package chart

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/bailiff/bailiff/pkg/serve"
	"github.com/bailiff/bailiff/test/kube"
	"github.com/bailiff/bailiff/test/logbuf"
)

// TestChartInARealCluster runs the chart against a real kube-apiserver: it refuses to
// install without cert-manager; with cert-manager's and prometheus-operator's CRDs
// installed, every values case passes a server-side dry run; then the chart is installed
// for real with its webhook configurations pointing at `bailiff webhook` running on this
// host with the Deployment's own flags and the webhook's service account, which admits a
// compliant Deployment and refuses a non-compliant one; the auditor's service account is
// enough for an audit; an upgrade keeps admission working; and `helm uninstall` deletes
// the webhook configurations before anything else.
func TestChartInARealCluster(t *testing.T) {
	h := newHelm(t)
	bin := bailiffBin(t)
	c, err := kube.Start(assetsDir(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	h.kubeconfig = c.Kubeconfig
	kubectl := func(stdin string, args ...string) result {
		t.Helper()
		out, errOut, err := c.Kubectl(stdin, args...)
		return result{stdout: out, stderr: errOut, err: err}
	}
	mustKubectl := func(stdin string, args ...string) string {
		t.Helper()
		r := kubectl(stdin, args...)
		if r.err != nil {
			t.Fatalf("kubectl %s:\n%s", strings.Join(args, " "), r)
		}
		return r.stdout
	}

	t.Run("install without cert-manager says what to do", func(t *testing.T) {
		r := h.run("install", release, chartDir(t), "--namespace", namespace, "--dry-run=server")
		if r.err == nil || !strings.Contains(r.stderr, "install cert-manager") || !strings.Contains(r.stderr, "tls.mode=self-managed") {
			t.Fatalf("helm install without cert-manager must fail saying what to install or set:\n%s", r)
		}
	})

	installCRDs(t, mustKubectl)
	for _, ns := range []string{namespace, "apps", "web", "monitoring", "opted-out"} {
		mustKubectl("", "create", "namespace", ns)
	}
	mustKubectl("", "label", "namespace", "opted-out", "bailiff.io/ignore=true")

	t.Run("server-side dry run", func(t *testing.T) {
		for _, file := range valueCases(t) {
			t.Run(file, func(t *testing.T) {
				rendered := h.template(file)
				r := kubectl(rendered, "apply", "--dry-run=server", "-f", "-")
				if r.err != nil {
					t.Fatalf("kubectl apply --dry-run=server of the chart with %s:\n%s", file, r)
				}
				if got, want := strings.Count(r.stdout, "(server dry run)"), len(parse(t, rendered)); got != want {
					t.Fatalf("the API server accepted %d of %d objects:\n%s", got, want, r.stdout)
				}
			})
		}
	})

	// The webhook runs on this host: the test values point both webhook configurations at
	// it by URL, with its CA as caBundle.
	certDir := t.TempDir()
	ca, err := serve.SelfSigned(certDir, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
	must(t, err)
	port, err := kube.FreePort()
	must(t, err)
	overlay := filepath.Join(t.TempDir(), "host-webhook.yaml")
	must(t, os.WriteFile(overlay, []byte(fmt.Sprintf(`cluster:
  name: envtest
tls:
  mode: secret
  secretName: bailiff-webhook-host
  caBundle: %s
webhook:
  url: https://127.0.0.1:%d
monitoring:
  serviceMonitor:
    enabled: true
  prometheusRule:
    enabled: true
  dashboard:
    enabled: true
policies:
  team.rego: |
    # METADATA
    # title: Deployments name their team
    # description: A Deployment carries a team label, so findings reach an owner.
    # scope: package
    # custom:
    #   id: ACME-001
    #   severity: low
    #   enforcement: warn
    #   kinds: [Deployment]
    #   controls: []
    package bailiff.acme.team

    import data.bailiff.lib.k8s

    violation contains {"msg": "the Deployment has no team label", "field": "metadata.labels.team"} if {
    	k8s.kind == "Deployment"
    	not k8s.obj.metadata.labels.team
    }
`, base64.StdEncoding.EncodeToString(ca), port)), 0o600))

	if r := h.run("install", release, chartDir(t), "--namespace", namespace, "--values", overlay); r.err != nil {
		t.Fatalf("helm install:\n%s", r)
	}
	installed := parse(t, h.run("get", "manifest", release, "--namespace", namespace).stdout)
	for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ServiceMonitor", "PrometheusRule"} {
		mustKubectl("", "get", strings.ToLower(kind), "--all-namespaces", "-l", "app.kubernetes.io/instance="+release, "-o", "name")
	}
	if out := mustKubectl("", "get", "crd", "policyreports.wgpolicyk8s.io", "-o", "name"); !strings.Contains(out, "policyreports") {
		t.Fatalf("the chart's PolicyReport CRD is not installed: %s", out)
	}

	files := hostFiles(t, installed)
	webhook := startWebhook(t, bin, installed, files, saKubeconfig(t, c.Kubeconfig, release+"-webhook"), certDir, port)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.WaitWebhookCalled(ctx, "apps"); err != nil {
		t.Fatalf("%v\nwebhook log:\n%s", err, webhook.logs.String())
	}

	t.Run("admits a compliant Deployment", func(t *testing.T) {
		r := kubectl(deployment("apps", "compliant", true, true), "apply", "-f", "-")
		if r.err != nil || !strings.Contains(r.stdout, "deployment.apps/compliant created") {
			t.Fatalf("a compliant Deployment must be admitted:\n%s\nwebhook log:\n%s", r, webhook.logs.String())
		}
		if strings.Contains(r.stderr, "[ACME-001]") {
			t.Errorf("a Deployment with a team label drew ACME-001's warning:\n%s", r.stderr)
		}
	})
	t.Run("warns with the policies from the chart's ConfigMap", func(t *testing.T) {
		r := kubectl(deployment("apps", "no-team", true, false), "apply", "-f", "-")
		if r.err != nil || !strings.Contains(r.stderr, "[ACME-001]") {
			t.Fatalf("a Deployment without a team label must be admitted with ACME-001's warning:\n%s", r)
		}
	})
	t.Run("refuses a non-compliant Deployment", func(t *testing.T) {
		r := kubectl(deployment("apps", "privileged", false, true), "apply", "-f", "-")
		if r.err == nil {
			t.Fatalf("a privileged Deployment without resources was admitted:\n%s", r)
		}
		for _, id := range []string{"denied the request", "[BLF-PSS-007]", "[BLF-RES-001]"} {
			if !strings.Contains(r.stderr, id) {
				t.Errorf("the refusal does not say %s:\n%s", id, r.stderr)
			}
		}
		if g := kubectl("", "get", "deployment", "privileged", "-n", "apps"); g.err == nil {
			t.Error("the refused Deployment exists")
		}
	})
	t.Run("leaves excluded namespaces alone", func(t *testing.T) {
		for _, ns := range []string{"opted-out", namespace} {
			r := kubectl(deployment(ns, "privileged", false, true), "apply", "-f", "-")
			if r.err != nil {
				t.Errorf("namespace %s is excluded, yet:\n%s", ns, r)
			}
		}
	})

	t.Run("the auditor's service account is enough to audit", func(t *testing.T) {
		args := hostArgs(t, installed, release+"-audit", files, map[string]string{
			"--store":        "sqlite://" + filepath.Join(t.TempDir(), "findings.db"),
			"--metrics-addr": "0",
			"--health-addr":  "0",
			"--log-format":   "text",
		})
		args = append(args, "--once", "--kubeconfig", saKubeconfig(t, c.Kubeconfig, release+"-audit"))
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "POD_NAMESPACE="+namespace)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bailiff %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		var report struct {
			Summary struct{ Pass, Fail, Warn int } `json:"summary"`
		}
		must(t, json.Unmarshal([]byte(mustKubectl("", "get", "policyreport", "bailiff-audit", "-n", "opted-out", "-o", "json")), &report))
		if report.Summary.Fail == 0 {
			t.Errorf("the audit of the opted-out namespace found nothing to report: %+v\n%s", report, out)
		}
		mustKubectl("", "get", "clusterpolicyreport", "bailiff-audit")
		// The Lease it was elected with (released on exit, so it names no holder now).
		mustKubectl("", "get", "lease", "bailiff-audit", "-n", namespace)
		if strings.Contains(strings.ToLower(string(out)), "forbidden") {
			t.Errorf("the auditor was refused something its ServiceAccount needs:\n%s", out)
		}
	})

	t.Run("an upgrade keeps admission working", func(t *testing.T) {
		if r := h.run("upgrade", release, chartDir(t), "--namespace", namespace, "--values", overlay, "--set", "webhook.timeoutSeconds=7"); r.err != nil {
			t.Fatalf("helm upgrade:\n%s", r)
		}
		if got := mustKubectl("", "get", "validatingwebhookconfiguration", release, "-o", "jsonpath={.webhooks[0].timeoutSeconds}"); got != "7" {
			t.Errorf("timeoutSeconds after the upgrade = %q, want 7", got)
		}
		if r := kubectl(deployment("apps", "privileged", false, true), "apply", "-f", "-"); r.err == nil || !strings.Contains(r.stderr, "[BLF-PSS-007]") {
			t.Errorf("after the upgrade a privileged Deployment must still be refused:\n%s", r)
		}
	})

	t.Run("uninstall deletes the webhook configurations first", func(t *testing.T) {
		r := h.run("uninstall", release, "--namespace", namespace, "--debug")
		if r.err != nil {
			t.Fatalf("helm uninstall:\n%s", r)
		}
		order := deletionOrder(r.stdout + r.stderr)
		if len(order) < 4 {
			t.Fatalf("could not read the deletion order from helm's debug log:\n%s", r)
		}
		t.Logf("helm deleted, in order: %v", order)
		first := order[:2]
		slices.Sort(first)
		if !slices.Equal(first, []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}) {
			t.Errorf("helm deleted %v before the webhook configurations", order[:2])
		}
		for _, kind := range []string{"validatingwebhookconfiguration", "mutatingwebhookconfiguration"} {
			if g := kubectl("", "get", kind, release); g.err == nil || !strings.Contains(g.stderr, "NotFound") {
				t.Errorf("%s %s survived the uninstall:\n%s", kind, release, g)
			}
		}
		if r := kubectl(deployment("apps", "privileged", false, true), "apply", "-f", "-"); r.err != nil {
			t.Errorf("with Bailiff uninstalled the API server must not call it any more:\n%s", r)
		}
		if out := mustKubectl("", "get", "deployments,services,configmaps,serviceaccounts", "-n", namespace, "-l", "app.kubernetes.io/instance="+release, "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("left behind after uninstall:\n%s", out)
		}
	})
}

// installCRDs applies cert-manager's and prometheus-operator's CRDs, from the module
// sources test/tools/crds pins, and the chart's own, and waits until they are served.
func installCRDs(t *testing.T, mustKubectl func(string, ...string) string) {
	t.Helper()
	dirs := crdModules(t)
	files, err := filepath.Glob(filepath.Join(dirs["github.com/cert-manager/cert-manager"], "deploy", "crds", "*.yaml"))
	must(t, err)
	for _, name := range []string{"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"} {
		files = append(files, filepath.Join(dirs["github.com/prometheus-operator/prometheus-operator"], "example", "prometheus-operator-crd", name))
	}
	chartCRDs, err := filepath.Glob(filepath.Join(chartDir(t), "crds", "*.yaml"))
	must(t, err)
	files = append(files, chartCRDs...)
	if len(files) < 9 {
		t.Fatalf("found only %d CRD files: %v", len(files), files)
	}
	var all bytes.Buffer
	for _, f := range files {
		b, err := os.ReadFile(f)
		must(t, err)
		all.WriteString("---\n")
		all.Write(b)
		all.WriteString("\n")
	}
	// Server-side: prometheus-operator's CRDs are too large for the last-applied annotation.
	mustKubectl(all.String(), "apply", "--server-side", "-f", "-")
	mustKubectl("", "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
}

// crdModules are the module directories of the pins in test/tools/crds, from the module
// cache (make test-chart downloads them; GOFLAGS=-mod=readonly keeps go.sum authoritative).
func crdModules(t *testing.T) map[string]string {
	t.Helper()
	mods := []string{"github.com/cert-manager/cert-manager", "github.com/prometheus-operator/prometheus-operator"}
	cmd := exec.Command("go", append([]string{"mod", "download", "-json"}, mods...)...)
	cmd.Dir = repoPath(t, "test", "tools", "crds")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download in test/tools/crds (run make test-chart, which downloads them): %v\n%s", err, out)
	}
	dirs := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var m struct{ Path, Dir, Error string }
		must(t, dec.Decode(&m))
		if m.Error != "" || m.Dir == "" {
			t.Fatalf("go mod download %s: %s", m.Path, m.Error)
		}
		dirs[m.Path] = m.Dir
	}
	return dirs
}

// saKubeconfig is the admin kubeconfig impersonating one of the chart's ServiceAccounts,
// so a process on this host has exactly the permissions the chart grants it.
func saKubeconfig(t *testing.T, admin, serviceAccount string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(admin)
	must(t, err)
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = "system:serviceaccount:" + namespace + ":" + serviceAccount
		auth.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
	}
	path := filepath.Join(t.TempDir(), serviceAccount+".kubeconfig")
	must(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// hostFiles writes the installed configuration and policies where a process on this host
// reads them, as the pods' projected volume lays them out.
func hostFiles(t *testing.T, m manifests) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(m.configMapData(t, release+"-config")["config.yaml"]), 0o600))
	must(t, os.Mkdir(filepath.Join(dir, "policies"), 0o700))
	for name, src := range m.configMapData(t, release+"-policies") {
		must(t, os.WriteFile(filepath.Join(dir, "policies", name), []byte(src), 0o600))
	}
	return dir
}

// hostArgs are the args of a Deployment's first container, with the pod's paths moved
// to files and directories on this host and some flags replaced.
func hostArgs(t *testing.T, m manifests, deploymentName, files string, replace map[string]string) []string {
	t.Helper()
	d, ok := deployments(t, m)[deploymentName]
	if !ok {
		t.Fatalf("no Deployment %s installed", deploymentName)
	}
	var out []string
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		a = strings.ReplaceAll(a, "/etc/bailiff/config", files)
		name, _, _ := strings.Cut(a, "=")
		if v, ok := replace[name]; ok {
			a = name + "=" + v
		}
		out = append(out, a)
	}
	return out
}

type process struct {
	cmd  *exec.Cmd
	logs *logbuf.Buffer
	done chan error
}

// startWebhook runs `bailiff webhook` with the installed Deployment's flags, as the
// webhook's ServiceAccount, and waits until it is ready (policies compiled, namespace and
// StorageClass caches synced: the ClusterRole is enough).
func startWebhook(t *testing.T, bin string, m manifests, files, kubeconfig, certDir string, port int) *process {
	t.Helper()
	args := hostArgs(t, m, release+"-webhook", files, map[string]string{
		"--addr":       fmt.Sprintf("127.0.0.1:%d", port),
		"--cert-dir":   certDir,
		"--log-format": "text",
	})
	args = append(args, "--kubeconfig", kubeconfig)
	p := &process{cmd: exec.Command(bin, args...), logs: &logbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "POD_NAMESPACE="+namespace, "POD_NAME=bailiff-webhook-host")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	must(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-p.done:
			t.Fatalf("bailiff %s exited: %v\n%s", strings.Join(args, " "), err, p.logs.String())
		default:
		}
		code, body, _ := kube.Readyz(port, certDir)
		if code == http.StatusOK {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("bailiff webhook not ready after a minute (%d %s):\n%s", code, body, p.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// deployment is a small Deployment: compliant with the default configuration, or
// privileged without resources; with or without a team label.
func deployment(ns, name string, compliant, team bool) string {
	labels := "app: " + name
	if team {
		labels += "\n    team: platform"
	}
	container := `- name: app
          image: registry.example.com/app:1.0
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {memory: 128Mi}
          securityContext:
            allowPrivilegeEscalation: false`
	if !compliant {
		container = `- name: app
          image: registry.example.com/app:1.0
          securityContext:
            privileged: true`
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  namespace: %s
  labels:
    %s
spec:
  replicas: 1
  selector:
    matchLabels: {app: %s}
  template:
    metadata:
      labels: {app: %s}
    spec:
      containers:
        %s
`, name, ns, labels, name, name, container)
}

// deletionOrder reads the kinds helm deleted, in order, from its debug log.
func deletionOrder(log string) []string {
	re := regexp.MustCompile(`starting delete resource.*?kind=(\S+)`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		out = append(out, strings.Trim(m[1], `"`))
	}
	return out
}
