//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/test/kube"
	"github.com/bailiff/bailiff/test/logbuf"
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
func startScanner(t *testing.T, dbDir, tokenFile, registry string, args ...string) (url string, logs *logbuf.Buffer) {
	t.Helper()
	port := freePort(t)
	logs = &logbuf.Buffer{}
	cmd := exec.Command(scannerBinary(t), append([]string{"--addr", fmt.Sprintf("127.0.0.1:%d", port), "--insecure-http",
		"--token-file", tokenFile, "--db-mounted", dbDir, "--no-cluster", "--insecure-registries", registry + ",127.0.0.1:1",
		"--log-format", "text"}, args...)...)
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

// TestAuditorFollowsTheVulnerabilityDatabase is the case admission cannot
// catch: an image admitted clean becomes vulnerable when the database learns
// of a new CVE. The auditor notices the update and records the finding in
// the trail, with nothing in the cluster changed.
func TestAuditorFollowsTheVulnerabilityDatabase(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	registry := registrytest.Serve(t, nil)
	img := trivytest.AlpineImage(t, []trivytest.Package{{Name: "openssl", Version: "3.3.1-r0"}}, map[string]string{"etc/motd": "app"})
	registrytest.PushImage(t, registry, "shop/app:1", img)

	// The database is mounted as Kubernetes mounts a ConfigMap or volume
	// that changes: a link swapped to a new directory.
	dbLink := filepath.Join(dir, "trivy-db")
	publish := func(version string, updatedAt time.Time, advisories ...trivytest.Advisory) {
		target := filepath.Join(dir, version)
		trivytest.WriteDB(t, target, updatedAt, advisories...)
		tmp := dbLink + ".new"
		must(t, os.Symlink(target, tmp))
		must(t, os.Rename(tmp, dbLink))
	}
	// Yesterday's database knows a CVE of a package the image does not have.
	publish("v1", time.Now().Add(-26*time.Hour), trivytest.Advisory{ID: "CVE-2099-0100", Package: "busybox", Fixed: "1.36.1-r9", Severity: "HIGH"})
	tokenFile := filepath.Join(dir, "scanner-token")
	must(t, os.WriteFile(tokenFile, []byte("e2e-shared-secret\n"), 0o600))
	scannerURL, scannerLogs := startScanner(t, dbLink, tokenFile, registry, "--db-check-interval", "1s")

	configFile := filepath.Join(dir, "config", "bailiff.yaml")
	must(t, os.MkdirAll(filepath.Dir(configFile), 0o755))
	must(t, os.WriteFile(configFile, []byte(fmt.Sprintf(scannerConfig, registry)), 0o644))
	c.mustKubectl(namespaces, "apply", "-f", "-")
	c.mustKubectl(deployment("shop", "app", registry+"/shop/app:1", true, true), "apply", "-f", "-")

	dbPath := filepath.Join(dir, "bailiff.db")
	a := startAudit(t, c, bailiffBinary(t), "--store", "sqlite://"+dbPath, "--config", configFile, "--interval", "1h",
		"--scanner-url", scannerURL, "--scanner-token-file", tokenFile, "--scanner-db-interval", "1s",
		"--insecure-registries", registry)
	st, err := store.OpenSQLite(context.Background(), dbPath)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	report := func() string { return "\nauditor:\n" + a.logs.String() + "\nscanner:\n" + scannerLogs.String() }
	openOf := func(policyID string) bool {
		page, err := st.Findings(context.Background(), store.FindingQuery{Cluster: "e2e", Kind: "Deployment", PolicyID: policyID, State: "open", Limit: 100})
		must(t, err)
		return slices.ContainsFunc(page.Findings, func(f store.Finding) bool { return f.Name == "app" })
	}

	// First seen, the image is pending (BLF-IMG-005, unscanned: deny); the
	// auditor looks again once the scan has had time to finish.
	waitUntil(t, "the pending scan's finding to open and then resolve"+report(), func() bool {
		return auditEvent(t, st, "resolved", "app", "BLF-IMG-005", "")
	})
	if openOf("BLF-IMG-004") || openOf("BLF-IMG-005") {
		t.Fatalf("the image is clean and scanned, yet findings are open%s", report())
	}

	publish("v2", time.Now().Add(-time.Hour),
		trivytest.Advisory{ID: "CVE-2099-0100", Package: "busybox", Fixed: "1.36.1-r9", Severity: "HIGH"},
		trivytest.Advisory{ID: "CVE-2099-0001", Package: "openssl", Fixed: "3.3.2-r0", Severity: "CRITICAL"})
	waitUntil(t, "the new CVE to open a finding in the trail"+report(), func() bool {
		return auditEvent(t, st, "opened", "app", "BLF-IMG-004", "")
	})
	page, err := st.Events(context.Background(), store.EventQuery{Cluster: "e2e", Source: "audit", Decision: "opened", PolicyID: "BLF-IMG-004", Limit: 10})
	must(t, err)
	if len(page.Events) == 0 || !slices.ContainsFunc(page.Events[0].Violations, func(v store.Violation) bool {
		return strings.Contains(v.Message, "CVE-2099-0001")
	}) {
		t.Errorf("the opened event does not name the CVE: %+v", page.Events)
	}
	if !strings.Contains(a.logs.String(), "vulnerability database updated") {
		t.Errorf("the auditor did not log the database update%s", report())
	}
	if res, err := trail.Verify(context.Background(), st, "e2e", trail.Range{}); err != nil || !res.OK {
		t.Errorf("the trail does not verify: %v %v", res, err)
	}
}
