//go:build e2e

// Package e2e holds tests that run against a real control plane
// (kube-apiserver + etcd started by controller-runtime's envtest).
//
// The binaries are built from Go module sources by `make control-plane`
// (test/tools/tools.mk) into bin/, and found through KUBEBUILDER_ASSETS:
//
//	make control-plane
//	KUBEBUILDER_ASSETS=$PWD/bin go test -tags e2e ./test/e2e/ -count=1 -v
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// assetsDir returns the directory holding kube-apiserver, etcd and kubectl,
// and fails the test with instructions when any of them is missing.
func assetsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		t.Fatalf("KUBEBUILDER_ASSETS is not set: run `make control-plane` and set KUBEBUILDER_ASSETS to the repository's bin/ directory (absolute path)")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("KUBEBUILDER_ASSETS=%q: %v", dir, err)
	}
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			t.Fatalf("control-plane binary %s is missing or not executable (KUBEBUILDER_ASSETS=%s): run `make control-plane`", p, dir)
		}
	}
	return dir
}

// pinnedVersion reads the version pinned in a wrapper module's go.mod under
// test/tools, so the test checks exactly what `make control-plane` built.
func pinnedVersion(t *testing.T, wrapper, modulePath string) string {
	t.Helper()
	gomod := filepath.Join("..", "tools", wrapper, "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatalf("reading pin: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(modulePath) + `\s+(v\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s does not require %s", gomod, modulePath)
	}
	return string(m[1])
}

// run executes a binary from the assets directory (never one from PATH) and
// returns its stdout.
func run(t *testing.T, ctx context.Context, env []string, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", bin, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

func TestControlPlaneSmoke(t *testing.T) {
	assets := assetsDir(t)
	wantKube := pinnedVersion(t, "kube", "k8s.io/kubernetes")
	wantEtcd := pinnedVersion(t, "etcd", "go.etcd.io/etcd/server/v3")

	if real, err := filepath.EvalSymlinks(filepath.Join(assets, "kubectl")); err != nil || strings.HasPrefix(real, "/usr/") {
		t.Fatalf("refusing to use %s (err %v): the test must run the kubectl built by `make control-plane`", real, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// etcd must be the pinned release (kube-apiserver is checked through the server
	// version below).
	etcdOut := string(run(t, ctx, os.Environ(), filepath.Join(assets, "etcd"), "--version"))
	if !strings.Contains(etcdOut, "etcd Version: "+strings.TrimPrefix(wantEtcd, "v")+"\n") {
		t.Fatalf("etcd --version = %q, want etcd Version: %s", etcdOut, wantEtcd)
	}

	c := startCluster(t)
	var version struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	out := c.mustKubectl("", "version", "-o", "json")
	if err := json.Unmarshal([]byte(out), &version); err != nil {
		t.Fatalf("kubectl version -o json: %v\n%s", err, out)
	}
	t.Logf("kubectl %s, kube-apiserver %s, etcd %s", version.ClientVersion.GitVersion, version.ServerVersion.GitVersion, wantEtcd)
	if version.ServerVersion.GitVersion != wantKube {
		t.Errorf("server gitVersion = %q, want %q", version.ServerVersion.GitVersion, wantKube)
	}
	if version.ClientVersion.GitVersion != wantKube {
		t.Errorf("client gitVersion = %q, want %q", version.ClientVersion.GitVersion, wantKube)
	}

	if got := strings.TrimSpace(c.mustKubectl("", "create", "namespace", "smoke")); got != "namespace/smoke created" {
		t.Errorf("kubectl create namespace smoke: %q", got)
	}
	var ns struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"metadata"`
		Status struct {
			Phase string `json:"phase"`
		} `json:"status"`
	}
	out = c.mustKubectl("", "get", "ns", "smoke", "-o", "json")
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("kubectl get ns smoke -o json: %v\n%s", err, out)
	}
	if ns.Kind != "Namespace" || ns.Metadata.Name != "smoke" || ns.Metadata.UID == "" || ns.Status.Phase != "Active" {
		t.Fatalf("unexpected namespace: %+v", ns)
	}
}
