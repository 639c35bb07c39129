// Command cluster runs `make demo`'s live cluster: a real kube-apiserver and etcd
// (envtest, binaries from bin/), `bailiff webhook` registered as the admission webhook,
// and every document of the example manifests applied with kubectl, one at a time, with
// what admission did to each. It keeps the cluster up until it is signalled
// (`make demo-down`).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bailiff/bailiff/pkg/manifest"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "bin/demo", "state directory: kubeconfig, certificates, logs, report")
	flag.StringVar(&o.assets, "assets", "bin", "directory with kube-apiserver, etcd and kubectl")
	flag.StringVar(&o.bailiff, "bailiff", "bin/bailiff", "the bailiff binary")
	flag.StringVar(&o.config, "config", "test/demo/config.yaml", "Bailiff configuration")
	flag.StringVar(&o.examples, "examples", "test/examples", "manifests to apply")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	dir, assets, bailiff, config, examples string
}

func run(ctx context.Context, o options) error {
	for _, p := range []*string{&o.dir, &o.assets, &o.bailiff, &o.config, &o.examples} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	env := &envtest.Environment{BinaryAssetsDirectory: o.assets}
	env.ControlPlane.GetAPIServer().Path = filepath.Join(o.assets, "kube-apiserver")
	env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(o.assets, "etcd")}
	env.ControlPlane.KubectlPath = filepath.Join(o.assets, "kubectl")
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("start the control plane (run make control-plane): %w", err)
	}
	defer env.Stop()
	admin, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfigData, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(o.dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigData, 0o600); err != nil {
		return err
	}
	k := kubectl{bin: filepath.Join(o.assets, "kubectl"), kubeconfig: kubeconfig, cache: filepath.Join(o.dir, "cache")}

	port, err := freePort()
	if err != nil {
		return err
	}
	certDir := filepath.Join(o.dir, "certs")
	logFile, err := os.Create(filepath.Join(o.dir, "webhook.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	webhook := exec.Command(o.bailiff, "webhook", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--cert-dir", certDir,
		"--tls-self-signed", "--kubeconfig", kubeconfig, "--config", o.config, "--log-format", "text")
	webhook.Stdout, webhook.Stderr = logFile, logFile
	if err := webhook.Start(); err != nil {
		return err
	}
	defer func() { _ = webhook.Process.Signal(os.Interrupt); _ = webhook.Wait() }()
	if err := waitReady(ctx, port, certDir); err != nil {
		return fmt.Errorf("%w (see %s)", err, logFile.Name())
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return err
	}
	if _, stderr, err := k.run(webhookConfigurations(port, caPEM), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("register the webhook: %v: %s", err, stderr)
	}
	if err := waitWebhookCalled(ctx, k); err != nil {
		return err
	}

	var report bytes.Buffer
	if err := applyExamples(&report, k, o.examples); err != nil {
		return err
	}
	fmt.Fprintf(&report, `
The cluster keeps running. Try it:
  export KUBECONFIG=%s
  %s apply -f test/examples/20-unapproved-image.yaml
  %s get deployment checkout -n shop -o jsonpath='{.metadata.annotations}'
Webhook log: %s
Stop it with: make demo-down
`, kubeconfig, k.bin, k.bin, logFile.Name())
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
func applyExamples(w io.Writer, k kubectl, dir string) error {
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
		doc, err := yamlOf(o.Object)
		if err != nil {
			return err
		}
		name := describe(o.Object)
		stdout, stderr, err := k.run(doc, "apply", "-f", "-", "-o", `jsonpath={.metadata.annotations.bailiff\.io/mutated-by}`)
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

type kubectl struct{ bin, kubeconfig, cache string }

func (k kubectl) run(stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cache}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(ctx context.Context, port int, certDir string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ca, err := os.ReadFile(filepath.Join(certDir, "ca.crt")); err == nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			if resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", port)); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New("the webhook did not become ready")
}

// waitWebhookCalled waits until the API server sends requests to the webhook: it reads
// webhook configurations asynchronously.
func waitWebhookCalled(ctx context.Context, k kubectl) error {
	probe := "apiVersion: v1\nkind: Pod\nmetadata: {name: probe, namespace: default}\nspec: {containers: [{name: a, image: docker.io/library/busybox:1}]}\n"
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, stderr, err := k.run(probe, "apply", "--dry-run=server", "-f", "-"); err != nil && strings.Contains(stderr, "[BLF-") {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return errors.New("the API server never called the webhook")
}

func webhookConfigurations(port int, caPEM []byte) string {
	ca := base64.StdEncoding.EncodeToString(caPEM)
	hook := func(kind, name, failurePolicy string) string {
		return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: %s
metadata:
  name: bailiff
webhooks:
  - name: %s.bailiff.io
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: %s
    timeoutSeconds: 10
    clientConfig:
      url: https://127.0.0.1:%d/%s
      caBundle: %s
    namespaceSelector:
      matchExpressions:
        - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}
    rules:
      - apiGroups: ["*"]
        apiVersions: ["*"]
        operations: [CREATE, UPDATE]
        resources: ["*"]
        scope: "*"
`, kind, name, failurePolicy, port, name, ca)
	}
	return hook("MutatingWebhookConfiguration", "mutate", "Ignore") + "---\n" + hook("ValidatingWebhookConfiguration", "validate", "Fail")
}
