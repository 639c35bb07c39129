//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/test/kube"
	"github.com/bailiff/bailiff/test/registrytest"
	"github.com/bailiff/bailiff/test/trivytest"
)

const scannerConfig = `cluster: {name: e2e, region: eu-west-1}
images:
  allowedRegistries: [%s, 127.0.0.1:1]
  unscanned: deny
  maxSeverity: high
resources:
  require: [requests.cpu, requests.memory, limits.memory]
podSecurity: {level: restricted}
`

// startScanner runs bailiff-scanner as the chart would, on plain HTTP on loopback,
// and waits until it answers.
func startScanner(t *testing.T, dbDir, tokenFile, registry string) (url string, logs *syncBuffer) {
	t.Helper()
	port := freePort(t)
	logs = &syncBuffer{}
	cmd := exec.Command(scannerBinary(t), "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--insecure-http",
		"--token-file", tokenFile, "--db-mounted", dbDir, "--no-cluster", "--insecure-registries", registry+",127.0.0.1:1",
		"--log-format", "text")
	cmd.Stdout, cmd.Stderr = logs, logs
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	url = fmt.Sprintf("http://127.0.0.1:%d", port)
	waitUntil(t, "bailiff-scanner to answer", func() bool {
		select {
		case err := <-done:
			t.Fatalf("bailiff-scanner exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return url, logs
}

// scansRun reads how many scans the scanner has finished, from its metrics.
func scansRun(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	m := regexp.MustCompile(`(?m)^bailiff_scanner_scans_total\{outcome="scanned"\} (\S+)$`).FindSubmatch(body)
	if m == nil {
		return "0"
	}
	return string(m[1])
}

// TestVulnerabilityGateOnARealAPIServer is the supply-chain gate as a user meets it:
// kubectl against a real API server, with bailiff webhook asking bailiff-scanner, which
// scans images from a registry on loopback with a vulnerability database built here.
func TestVulnerabilityGateOnARealAPIServer(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	registry := registrytest.Serve(t, nil)
	push := func(repoTag string, pkgs []trivytest.Package) string {
		img := trivytest.AlpineImage(t, pkgs, map[string]string{"etc/motd": repoTag})
		registrytest.PushImage(t, registry, repoTag, img)
		return registry + "/" + repoTag
	}
	vulnerable := push("shop/legacy:1", []trivytest.Package{{Name: "openssl", Version: "3.3.1-r0"}})
	clean := push("shop/api:2", []trivytest.Package{{Name: "openssl", Version: "3.3.2-r0"}})

	dbDir := filepath.Join(dir, "trivy-db")
	trivytest.WriteDB(t, dbDir, time.Now().Add(-time.Hour),
		trivytest.Advisory{ID: "CVE-2099-0001", Package: "openssl", Fixed: "3.3.2-r0", Severity: "CRITICAL"})
	tokenFile := filepath.Join(dir, "scanner-token")
	must(t, os.WriteFile(tokenFile, []byte("e2e-shared-secret\n"), 0o600))
	scannerURL, scannerLogs := startScanner(t, dbDir, tokenFile, registry)

	configFile := filepath.Join(dir, "bailiff.yaml")
	must(t, os.WriteFile(configFile, []byte(fmt.Sprintf(scannerConfig, registry)), 0o644))
	certDir := filepath.Join(dir, "certs")
	port := freePort(t)
	w := startWebhook(t, c, bailiffBinary(t), configFile, certDir, port, true,
		"--insecure-registries", registry+",127.0.0.1:1", "--scanner-url", scannerURL, "--scanner-token-file", tokenFile)
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	must(t, err)
	c.mustKubectl(namespaces, "apply", "-f", "-")
	c.mustKubectl(kube.WebhookConfigurations(port, caPEM, "Fail", "Fail"), "apply", "-f", "-")
	waitUntil(t, "the webhook to be called", func() bool {
		_, errOut, err := c.kubectl(deployment("shop", "probe", "docker.io/library/nginx:1.27", true, true), "apply", "--dry-run=server", "-f", "-")
		return err != nil && strings.Contains(errOut, "BLF-IMG-001")
	})
	report := func() string { return "\nwebhook:\n" + w.logs.String() + "\nscanner:\n" + scannerLogs.String() }

	t.Run("an image not scanned yet is refused as pending, with unscanned: deny", func(t *testing.T) {
		_, errOut, err := c.kubectl(deployment("shop", "api", clean, true, true), "apply", "-f", "-")
		if err == nil || !strings.Contains(errOut, "[BLF-IMG-005]") || !strings.Contains(errOut, "scan pending, retry in a moment") {
			t.Fatalf("want a refusal saying the scan is pending, got err=%v\n%s%s", err, errOut, report())
		}
	})

	t.Run("once scanned, a clean image is admitted", func(t *testing.T) {
		waitUntil(t, "the clean image to be admitted", func() bool {
			_, _, err := c.kubectl(deployment("shop", "api", clean, true, true), "apply", "-f", "-")
			return err == nil
		})
	})

	t.Run("a vulnerable image is refused with the CVE and its severity", func(t *testing.T) {
		var errOut string
		waitUntil(t, "the vulnerable image to be scanned", func() bool {
			_, errOut, _ = c.kubectl(deployment("shop", "legacy", vulnerable, true, true), "apply", "-f", "-")
			return strings.Contains(errOut, "[BLF-IMG-004]")
		})
		for _, want := range []string{"denied the request", "CVE-2099-0001", "critical", "openssl", "3.3.2-r0"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("refusal lacks %q:\n%s", want, errOut)
			}
		}
	})

	t.Run("the same digest is scanned once however many workloads use it", func(t *testing.T) {
		before := scansRun(t, scannerURL)
		for i := range 5 {
			c.mustKubectl(deployment("shop", fmt.Sprintf("api-%d", i), clean, true, true), "apply", "-f", "-")
		}
		if after := scansRun(t, scannerURL); after != before || after != "2" {
			t.Errorf("scans finished: %s before, %s after; want 2 (one per image) both times", before, after)
		}
	})

	t.Run("an unreachable registry follows images.unscanned", func(t *testing.T) {
		_, errOut, err := c.kubectl(deployment("shop", "offline", "127.0.0.1:1/shop/api:2", true, true), "apply", "-f", "-")
		if err == nil || !strings.Contains(errOut, "[BLF-IMG-005]") || !strings.Contains(errOut, "could not be resolved") {
			t.Fatalf("want a refusal saying the digest could not be resolved, got err=%v\n%s", err, errOut)
		}
	})
}
