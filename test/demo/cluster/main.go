// Command cluster runs `make demo`'s live cluster: a real kube-apiserver and etcd
// (envtest, binaries from bin/) holding a few objects from before Bailiff, then the
// central `bailiff server` (SQLite), `bailiff webhook` registered as the admission
// webhook and recording its decisions in the trail, every document of the example
// manifests applied with kubectl, one at a time, with what admission did to each, and
// `bailiff audit` finding what the webhook never saw. It ends with the trail verified
// and keeps everything up until it is signalled (`make demo-down`).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bailiff/bailiff/pkg/manifest"
	"github.com/bailiff/bailiff/test/kube"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "bin/demo", "state directory: kubeconfig, certificates, logs, report")
	flag.StringVar(&o.assets, "assets", "bin", "directory with kube-apiserver, etcd and kubectl")
	flag.StringVar(&o.bailiff, "bailiff", "bin/bailiff", "the bailiff binary")
	flag.StringVar(&o.config, "config", "test/demo/config.yaml", "Bailiff configuration")
	flag.StringVar(&o.examples, "examples", "test/examples", "manifests to apply")
	flag.StringVar(&o.preexisting, "preexisting", "test/demo/preexisting.yaml", "manifests in the cluster before Bailiff")
	flag.StringVar(&o.crds, "crds", "charts/bailiff/crds", "PolicyReport CRDs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	dir, assets, bailiff, config, examples, preexisting, crds string
}

func run(ctx context.Context, o options) error {
	for _, p := range []*string{&o.dir, &o.assets, &o.bailiff, &o.config, &o.examples, &o.preexisting, &o.crds} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	c, err := kube.Start(o.assets, o.dir)
	if err != nil {
		return err
	}
	defer c.Stop()

	if _, stderr, err := c.Kubectl("", "apply", "-f", o.crds); err != nil {
		return fmt.Errorf("install the PolicyReport CRDs: %v: %s", err, stderr)
	}
	if _, stderr, err := c.Kubectl("", "apply", "-f", o.preexisting); err != nil {
		return fmt.Errorf("create the objects from before Bailiff: %v: %s", err, stderr)
	}

	cluster, err := clusterName(o.config)
	if err != nil {
		return err
	}
	var report bytes.Buffer
	if cluster == "" { // a configuration of the user's own may not name the cluster
		cluster = defaultClusterName
		fmt.Fprintf(&report, "The configuration names no cluster (cluster.name); the demo calls it %q.\n", cluster)
	}
	srv, err := startServer(ctx, o, cluster)
	if err != nil {
		return err
	}
	defer srv.stop()

	port, err := kube.FreePort()
	if err != nil {
		return err
	}
	certDir := filepath.Join(o.dir, "certs")
	webhook, err := start(o.dir, "webhook", o.bailiff, "webhook", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--cert-dir", certDir,
		"--tls-self-signed", "--kubeconfig", c.Kubeconfig, "--config", o.config, "--log-format", "text", "--cluster", cluster,
		"--trail-server", srv.url, "--trail-token-file", srv.clusterToken, "--trail-ca-file", srv.caFile,
		"--trail-queue-dir", filepath.Join(o.dir, "trail-queue"), "--trail-batch-delay", "200ms")
	if err != nil {
		return err
	}
	defer webhook.stop()
	if err := kube.WaitFor(ctx, "the webhook to be ready", func() bool {
		code, _, _ := kube.Readyz(port, certDir)
		return code == http.StatusOK
	}); err != nil {
		return fmt.Errorf("%w (see %s)", err, webhook.log)
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return err
	}
	if _, stderr, err := c.Kubectl(kube.WebhookConfigurations(port, caPEM, "Ignore", "Fail"), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("register the webhook: %v: %s", err, stderr)
	}
	// The user's configuration may allow the probe, so wait for the webhook to answer,
	// not to refuse.
	if err := c.WaitWebhookAnswered(ctx, "default", port, certDir); err != nil {
		return fmt.Errorf("%w (see %s)", err, webhook.log)
	}

	if err := applyExamples(&report, c, o.examples); err != nil {
		return err
	}

	auditor, err := start(o.dir, "audit", o.bailiff, "audit", "--kubeconfig", c.Kubeconfig, "--config", o.config, "--cluster", cluster,
		"--server", srv.url, "--token-file", srv.clusterToken, "--server-ca-file", srv.caFile, "--queue-dir", filepath.Join(o.dir, "audit-queue"),
		"--leader-elect=false", "--metrics-addr", "0", "--health-addr", "0", "--log-format", "text", "--interval", "10m")
	if err != nil {
		return err
	}
	defer auditor.stop()
	if err := kube.WaitFor(ctx, "the auditor's first sweep", func() bool {
		b, _ := os.ReadFile(auditor.log)
		return bytes.Contains(b, []byte("sweep done"))
	}); err != nil {
		return fmt.Errorf("%w (see %s)", err, auditor.log)
	}
	fmt.Fprintf(&report, "\n== 3. The audit trail and the auditor's findings, from bailiff server at %s\n", srv.url)
	preexisting, err := objectNames(o.preexisting)
	if err != nil {
		return err
	}
	if err := trailReport(ctx, &report, srv, cluster, preexisting); err != nil {
		return err
	}
	fmt.Fprintf(&report, "\n== 4. Compliance reports of %s, made, signed and kept by bailiff server\n", cluster)
	if err := complianceReports(ctx, &report, o, srv, cluster); err != nil {
		return err
	}
	fmt.Fprintf(&report, `
Everything keeps running. Auditors' pages: %s/ui/ (sign in with the token in %s; the CA is %s).
Try it:
  export KUBECONFIG=%s
  %s apply -f test/examples/20-unapproved-image.yaml
  %s get deployment checkout -n shop -o jsonpath='{.metadata.annotations}'
  %s get policyreports -A
  curl -s --cacert %s -H "Authorization: Bearer $(cat %s)" '%s/api/v1/findings?state=open'
  curl -s --cacert %s -H "Authorization: Bearer $(cat %s)" '%s/api/v1/events?source=audit'
  %s trail verify --server %s --token-file %s --ca-file %s
Logs: %s, %s, %s
Stop it with: make demo-down
`, srv.url, srv.auditorToken, srv.caFile,
		c.Kubeconfig, c.KubectlPath(), c.KubectlPath(), c.KubectlPath(),
		srv.caFile, srv.auditorToken, srv.url, srv.caFile, srv.auditorToken, srv.url,
		o.bailiff, srv.url, srv.auditorToken, srv.caFile,
		srv.log, webhook.log, auditor.log)
	if err := os.WriteFile(filepath.Join(o.dir, "report.txt"), report.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.dir, "ready"), nil, 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// applyExamples applies every document of the examples, one at a time, and writes
// what admission did to each.
func applyExamples(w io.Writer, c *kube.Cluster, dir string) error {
	paths, err := manifest.Files([]string{dir})
	if err != nil {
		return err
	}
	objs, errs := manifest.ReadAll(paths, nil)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	counts := map[string]int{}
	for _, o := range objs {
		obj, err := o.Map()
		if err != nil {
			return err
		}
		doc, err := yamlOf(obj)
		if err != nil {
			return err
		}
		name := describe(obj)
		stdout, stderr, err := c.Kubectl(doc, "apply", "-f", "-", "-o", `jsonpath={.metadata.annotations.bailiff\.io/mutated-by}`)
		warnings := warningLines(stderr)
		switch {
		case err != nil:
			counts["refused"]++
			fmt.Fprintf(w, "REFUSED  %s  (%s)\n", name, o.Source())
			for _, line := range refusalLines(stderr) {
				fmt.Fprintf(w, "         %s\n", line)
			}
		case stdout != "":
			counts["mutated"]++
			fmt.Fprintf(w, "MUTATED  %s  by %s  (%s)\n", name, stdout, o.Source())
		case len(warnings) > 0:
			counts["warned"]++
			fmt.Fprintf(w, "WARNED   %s  (%s)\n", name, o.Source())
		default:
			counts["allowed"]++
			fmt.Fprintf(w, "ALLOWED  %s  (%s)\n", name, o.Source())
		}
		for _, line := range warnings {
			fmt.Fprintf(w, "         %s\n", line)
		}
	}
	fmt.Fprintf(w, "\n%d objects applied: %d allowed, %d warned, %d mutated, %d refused\n",
		len(objs), counts["allowed"], counts["warned"], counts["mutated"], counts["refused"])
	return nil
}

// objectNames names the objects of a manifest file as objectName does.
func objectNames(path string) (map[string]bool, error) {
	objs, errs := manifest.ReadAll([]string{path}, nil)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := map[string]bool{}
	for _, o := range objs {
		obj, err := o.Map()
		if err != nil {
			return nil, err
		}
		meta, _ := obj["metadata"].(map[string]any)
		kind, _ := obj["kind"].(string)
		ns, _ := meta["namespace"].(string)
		name, _ := meta["name"].(string)
		out[objectName(kind, ns, name)] = true
	}
	return out, nil
}

func describe(obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if ns, _ := meta["namespace"].(string); ns != "" {
		name = ns + "/" + name
	}
	return fmt.Sprintf("%v %s", obj["kind"], name)
}

func warningLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Warning: ") {
			out = append(out, l)
		}
	}
	return out
}

// refusalLines keeps the policy messages of a refusal.
func refusalLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Warning: ") {
			continue
		}
		if i := strings.Index(l, "[BLF-"); i >= 0 {
			out = append(out, l[i:])
		} else if strings.HasPrefix(l, "Error") && !strings.Contains(l, "denied the request") {
			out = append(out, l)
		}
	}
	return out
}
