// Package kube runs a real control plane for Bailiff's end-to-end tests and demo:
// kube-apiserver and etcd (built from module sources into bin/) started through
// controller-runtime's envtest, driven with the kubectl built beside them, and Bailiff
// registered as its admission webhook.
package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Cluster is a running control plane with an admin kubeconfig.
type Cluster struct {
	Assets     string // directory of kube-apiserver, etcd and kubectl
	Kubeconfig string // a system:masters user's kubeconfig
	env        *envtest.Environment
	dir        string
	childEnv   []string
}

// Start starts kube-apiserver and etcd from assets and writes a kubeconfig for a
// system:masters user into dir.
func Start(assets, dir string) (*Cluster, error) {
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run make control-plane", name, assets)
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	// Explicit paths: TEST_ASSET_* variables must not swap in other binaries.
	env.ControlPlane.GetAPIServer().Path = filepath.Join(assets, "kube-apiserver")
	env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(assets, "etcd")}
	env.ControlPlane.KubectlPath = filepath.Join(assets, "kubectl")
	if _, err := env.Start(); err != nil {
		return nil, fmt.Errorf("start the control plane from %s (run make control-plane): %w", assets, err)
	}
	c := &Cluster{Assets: assets, env: env, dir: dir}
	admin, err := env.AddUser(envtest.User{Name: "bailiff-admin", Groups: []string{"system:masters"}}, nil)
	if err == nil {
		var data []byte
		if data, err = admin.KubeConfig(); err == nil {
			c.Kubeconfig = filepath.Join(dir, "kubeconfig")
			err = os.WriteFile(c.Kubeconfig, data, 0o600)
		}
	}
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("write an admin kubeconfig: %w", err)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			c.childEnv = append(c.childEnv, kv)
		}
	}
	c.childEnv = append(c.childEnv, "KUBECONFIG="+c.Kubeconfig)
	return c, nil
}

// Stop stops the control plane.
func (c *Cluster) Stop() error { return c.env.Stop() }

// KubectlPath is the kubectl built with the control plane (never one from PATH).
func (c *Cluster) KubectlPath() string { return filepath.Join(c.Assets, "kubectl") }

// Kubectl runs kubectl as the admin user with stdin and returns what it printed.
func (c *Cluster) Kubectl(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.KubectlPath(),
		append([]string{"--kubeconfig", c.Kubeconfig, "--cache-dir", filepath.Join(c.dir, "kubectl-cache")}, args...)...)
	cmd.Env = c.childEnv
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// FreePort returns a loopback port nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Readyz asks a webhook on a loopback port for /readyz, trusting the CA in certDir.
func Readyz(port int, certDir string) (int, string, error) {
	return get(port, certDir, "/readyz")
}

// get fetches path from the webhook on port, trusting certDir's ca.crt.
func get(port int, certDir, path string) (int, string, error) {
	ca, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return 0, "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), nil
}

// WaitFor retries cond until it holds or a minute passes: the API server and the
// webhook apply changes asynchronously. It waits for an event; it measures nothing.
func WaitFor(ctx context.Context, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// WebhookConfigurations registers Bailiff at a loopback port as the mutating and
// validating webhook for every resource outside kube-system, trusting caPEM.
func WebhookConfigurations(port int, caPEM []byte, mutateFailure, validateFailure string) string {
	ca := base64.StdEncoding.EncodeToString(caPEM)
	// Deletions go to the validating webhook only: policies may ask for them, and
	// nothing mutates an object being deleted.
	hook := func(kind, name, failurePolicy, operations string) string {
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
        operations: [%s]
        resources: ["*"]
        scope: "*"
`, kind, name, failurePolicy, port, name, ca, operations)
	}
	return hook("MutatingWebhookConfiguration", "mutate", mutateFailure, "CREATE, UPDATE") + "---\n" +
		hook("ValidatingWebhookConfiguration", "validate", validateFailure, "CREATE, UPDATE, DELETE")
}

// WaitWebhookAnswered waits until the API server sends the webhook on port (TLS from
// certDir's ca.crt) a server-side dry run of a pod in namespace, however the webhook's
// policies judge it: its /metrics count of validating requests grows. For a webhook
// running a configuration that may allow anything, where WaitWebhookCalled cannot wait
// for a refusal.
func (c *Cluster) WaitWebhookAnswered(ctx context.Context, namespace string, port int, certDir string) error {
	before, err := validateRequests(port, certDir)
	if err != nil {
		return fmt.Errorf("read the webhook's metrics: %w", err)
	}
	probe := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: bailiff-probe, namespace: %s}\nspec: {containers: [{name: a, image: docker.io/library/busybox:1}]}\n", namespace)
	err = WaitFor(ctx, "the webhook to be called", func() bool {
		_, _, _ = c.Kubectl(probe, "apply", "--dry-run=server", "-f", "-") // refused or not
		n, err := validateRequests(port, certDir)
		return err == nil && n > before
	})
	if err != nil {
		return ErrNotCalled
	}
	return nil
}

// validateRequests is the number of /validate requests the webhook on port has
// answered, from its /metrics.
func validateRequests(port int, certDir string) (float64, error) {
	code, body, err := get(port, certDir, "/metrics")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("/metrics answered %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("parse /metrics: %w", err)
	}
	var n float64
	if f := families["bailiff_admission_requests_total"]; f != nil {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "endpoint" && l.GetValue() == "validate" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n, nil
}

// ErrNotCalled says the API server never sent a request to the webhook.
var ErrNotCalled = errors.New("the API server never called the webhook")

// WaitWebhookCalled waits until a server-side dry run of a pod from an unapproved
// registry is refused by Bailiff: the API server reads webhook configurations
// asynchronously.
func (c *Cluster) WaitWebhookCalled(ctx context.Context, namespace string) error {
	probe := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: bailiff-probe, namespace: %s}\nspec: {containers: [{name: a, image: docker.io/library/busybox:1}]}\n", namespace)
	err := WaitFor(ctx, "the webhook to be called", func() bool {
		_, stderr, err := c.Kubectl(probe, "apply", "--dry-run=server", "-f", "-")
		return err != nil && strings.Contains(stderr, "[BLF-")
	})
	if err != nil {
		return ErrNotCalled
	}
	return nil
}
