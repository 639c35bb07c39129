//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/test/kube"
)

// cluster is a real control plane for one test, driven with the real kubectl.
type cluster struct {
	*kube.Cluster
	t *testing.T
}

// startCluster starts kube-apiserver and etcd from KUBEBUILDER_ASSETS for the test.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c, err := kube.Start(assetsDir(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	return &cluster{Cluster: c, t: t}
}

// kubectl runs the kubectl built from source.
func (c *cluster) kubectl(stdin string, args ...string) (stdout, stderr string, err error) {
	return c.Kubectl(stdin, args...)
}

// mustKubectl runs kubectl and fails the test if it fails.
func (c *cluster) mustKubectl(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.Kubectl(stdin, args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := kube.FreePort()
	must(t, err)
	return port
}

// bailiffBinary is the bailiff binary under test: $BAILIFF_BIN (make test sets it), or
// one built now.
func bailiffBinary(t *testing.T) string {
	t.Helper()
	return binary(t, "BAILIFF_BIN", "bailiff")
}

// scannerBinary is bailiff-scanner: $BAILIFF_SCANNER_BIN (make test sets it), or one
// built now (Trivy needs GOEXPERIMENT=jsonv2).
func scannerBinary(t *testing.T) string {
	t.Helper()
	return binary(t, "BAILIFF_SCANNER_BIN", "bailiff-scanner")
}

func binary(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, "github.com/bailiff/bailiff/cmd/"+name)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOEXPERIMENT=jsonv2")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
