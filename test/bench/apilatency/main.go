// Command apilatency measures what Bailiff adds to `kubectl create` through a real API
// server: the same compliant Deployments are created with kubectl, alternately in
// kube-system (which the webhook configurations leave out) and in a namespace bailiff
// webhook checks (mutating and validating), and the
// p50/p99 of each and their difference are printed.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bailiff/bailiff/test/kube"
)

func main() {
	assets := flag.String("assets", "bin", "directory with kube-apiserver, etcd and kubectl")
	bailiff := flag.String("bailiff", "bin/bailiff", "the bailiff binary")
	configFile := flag.String("config", "test/demo/config.yaml", "Bailiff configuration")
	n := flag.Int("n", 100, "objects created each way")
	flag.Parse()
	if err := run(*assets, *bailiff, *configFile, *n); err != nil {
		fmt.Fprintln(os.Stderr, "apilatency:", err)
		os.Exit(1)
	}
}

func run(assets, bailiff, configFile string, n int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bailiff-apilatency")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	assets, _ = filepath.Abs(assets)
	c, err := kube.Start(assets, dir)
	if err != nil {
		return err
	}
	defer c.Stop()
	if _, stderr, err := c.Kubectl("apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app, namespace: bench}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app, namespace: kube-system}\n", "apply", "-f", "-"); err != nil {
		return fmt.Errorf("%v: %s", err, stderr)
	}

	port, err := kube.FreePort()
	if err != nil {
		return err
	}
	certDir := filepath.Join(dir, "certs")
	webhook := exec.Command(bailiff, "webhook", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--cert-dir", certDir,
		"--tls-self-signed", "--kubeconfig", c.Kubeconfig, "--config", configFile, "--log-format", "text")
	if err := webhook.Start(); err != nil {
		return err
	}
	defer func() { _ = webhook.Process.Signal(os.Interrupt); _ = webhook.Wait() }()
	if err := kube.WaitFor(ctx, "the webhook", func() bool { code, _, _ := kube.Readyz(port, certDir); return code == http.StatusOK }); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return err
	}
	if _, stderr, err := c.Kubectl(kube.WebhookConfigurations(port, caPEM, "Ignore", "Fail"), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("%v: %s", err, stderr)
	}
	if err := c.WaitWebhookCalled(ctx, "bench"); err != nil {
		return err
	}
	// Interleaved, so whatever else the machine does weighs on both sides alike: the
	// webhook configurations leave kube-system out, so creating there is the API
	// server's path without Bailiff.
	without, with, err := create(c, n)
	if err != nil {
		return err
	}
	p := func(d []time.Duration, q float64) time.Duration { return d[int(float64(len(d)-1)*q)] }
	fmt.Printf("kubectl create of %d Deployments through kube-apiserver\n", n)
	fmt.Printf("  without the webhook: p50 %s p99 %s\n", p(without, .5).Round(time.Microsecond), p(without, .99).Round(time.Microsecond))
	fmt.Printf("  with bailiff webhook: p50 %s p99 %s\n", p(with, .5).Round(time.Microsecond), p(with, .99).Round(time.Microsecond))
	fmt.Printf("  added by Bailiff:    p50 %s p99 %s\n", (p(with, .5) - p(without, .5)).Round(time.Microsecond), (p(with, .99) - p(without, .99)).Round(time.Microsecond))
	return nil
}

// create creates n pairs of compliant Deployments with kubectl, one process each, as a
// user or CI job would: one in kube-system, which the webhook configurations leave out,
// then one in bench, which Bailiff checks. It returns both sides' sorted durations.
func create(c *kube.Cluster, n int) (without, with []time.Duration, err error) {
	for i := range n {
		for _, side := range []struct {
			namespace string
			out       *[]time.Duration
		}{{"kube-system", &without}, {"bench", &with}} {
			doc := fmt.Sprintf(deployment, "app", i, side.namespace, "app", i, "app", i)
			start := time.Now()
			if _, stderr, err := c.Kubectl(doc, "create", "-f", "-"); err != nil {
				return nil, nil, fmt.Errorf("create app-%d in %s: %v: %s", i, side.namespace, err, strings.TrimSpace(stderr))
			}
			*side.out = append(*side.out, time.Since(start))
		}
	}
	slices.Sort(without)
	slices.Sort(with)
	return without, with, nil
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: %s-%d, namespace: %s}
spec:
  selector: {matchLabels: {app: %s-%d}}
  template:
    metadata: {labels: {app: %s-%d}}
    spec:
      serviceAccountName: app
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: api
          image: registry.example.com/shop/api:1.4.2
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`
