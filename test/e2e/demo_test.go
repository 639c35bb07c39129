//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bailiff/bailiff/test/logbuf"
)

// TestDemoRunsWithAUsersConfiguration runs `make demo`'s live cluster as `make demo
// CONFIG=...` does, with a configuration that names no cluster and lets the demo's own
// probe pod through: the demo must still find the webhook called, name the cluster,
// apply every example and verify the trail.
func TestDemoRunsWithAUsersConfiguration(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(config, []byte(`images:
  allowedRegistries: [docker.io, registry.example.com, ghcr.io]
  unscanned: allow
enforcement: {BLF-IMG-001: warn, BLF-RES-001: warn}
`), 0o644))
	demo := filepath.Join(dir, "demo-cluster")
	build := exec.Command("go", "build", "-o", demo, "github.com/bailiff/bailiff/test/demo/cluster")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the demo: %v\n%s", err, b)
	}

	state := filepath.Join(dir, "state")
	cmd := exec.Command(demo, "-dir", state, "-assets", assetsDir(t), "-bailiff", bailiffBinary(t), "-config", config,
		"-examples", "../examples", "-preexisting", "../demo/preexisting.yaml", "-crds", "../../charts/bailiff/crds")
	var out logbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})

	deadline := time.After(4 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(state, "ready")); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the demo stopped before it was ready: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("the demo was not ready after 4 minutes:\n%s", out.String())
		case <-time.After(time.Second):
		}
	}
	report, err := os.ReadFile(filepath.Join(state, "report.txt"))
	must(t, err)
	for _, want := range []string{
		"objects applied:",
		"Cluster demo's trail",
		"cluster demo: intact",
		"export KUBECONFIG=",
		`the demo calls it "demo"`,
	} {
		if !strings.Contains(string(report), want) {
			t.Errorf("the demo's report lacks %q:\n%s", want, report)
		}
	}
}
