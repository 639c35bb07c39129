//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// cluster is a real control plane for one test, driven with the real kubectl.
type cluster struct {
	t          *testing.T
	assets     string
	kubeconfig string
	dir        string
	env        []string
}

// startCluster starts kube-apiserver and etcd from bin/ through envtest and writes a
// kubeconfig for a system:masters user.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	assets := assetsDir(t)
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	env.ControlPlane.GetAPIServer().Path = filepath.Join(assets, "kube-apiserver")
	env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(assets, "etcd")}
	env.ControlPlane.KubectlPath = filepath.Join(assets, "kubectl")
	if _, err := env.Start(); err != nil {
		t.Fatalf("start the control plane from %s: %v (run `make control-plane`)", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var childEnv []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			childEnv = append(childEnv, kv)
		}
	}
	return &cluster{t: t, assets: assets, kubeconfig: kubeconfig, dir: dir, env: append(childEnv, "KUBECONFIG="+kubeconfig)}
}

// kubectl runs the kubectl built from source with stdin and returns its output.
func (c *cluster) kubectl(stdin string, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.assets, "kubectl"),
		append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", filepath.Join(c.dir, "cache")}, args...)...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// mustKubectl runs kubectl and fails the test if it fails.
func (c *cluster) mustKubectl(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.kubectl(stdin, args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// bailiffBinary is the bailiff binary under test: $BAILIFF_BIN (make test sets it), or
// one built now.
func bailiffBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BAILIFF_BIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "bailiff")
	cmd := exec.Command("go", "build", "-o", out, "github.com/bailiff/bailiff/cmd/bailiff")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build bailiff: %v\n%s", err, b)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
