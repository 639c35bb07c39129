//go:build chart

package chart

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	release   = "bailiff"
	namespace = "bailiff-system"
)

// repoPath is a path relative to the repository's root.
func repoPath(t *testing.T, elem ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{"..", ".."}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func chartDir(t *testing.T) string { return repoPath(t, "charts", "bailiff") }

// binary finds an executable from env, else in the repository's bin/, with what to run
// when it is missing.
func binary(t *testing.T, env, name, makeTarget string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = repoPath(t, "bin", name)
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s is missing or not executable: run `make %s` (or set $%s)", p, makeTarget, env)
	}
	return p
}

func helmBin(t *testing.T) string    { return binary(t, "HELM_BIN", "helm", "helm") }
func bailiffBin(t *testing.T) string { return binary(t, "BAILIFF_BIN", "bailiff", "build") }
func scannerBin(t *testing.T) string {
	return binary(t, "BAILIFF_SCANNER_BIN", "bailiff-scanner", "build")
}

// assetsDir holds kube-apiserver, etcd and kubectl.
func assetsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = repoPath(t, "bin")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Fatalf("%s is missing from %s: run `make control-plane` (or set $KUBEBUILDER_ASSETS)", name, dir)
		}
	}
	return dir
}

// result is what a command printed and how it ended.
type result struct {
	stdout, stderr string
	err            error
}

func (r result) String() string {
	return fmt.Sprintf("err: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
}

// run runs a command with env added to a clean copy of the environment.
func run(t *testing.T, stdin string, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return result{stdout: out.String(), stderr: errOut.String(), err: err}
}

// helm runs helm with its cache, configuration and data in a directory of the test's own.
type helm struct {
	t          *testing.T
	bin        string
	home       string
	kubeconfig string
}

func newHelm(t *testing.T) *helm {
	t.Helper()
	return &helm{t: t, bin: helmBin(t), home: t.TempDir()}
}

func (h *helm) run(args ...string) result {
	h.t.Helper()
	env := []string{
		"HELM_CACHE_HOME=" + filepath.Join(h.home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(h.home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(h.home, "data"),
	}
	if h.kubeconfig != "" {
		env = append(env, "KUBECONFIG="+h.kubeconfig)
	}
	return run(h.t, "", env, h.bin, args...)
}

// apiVersions are the optional APIs the chart uses, as helm template is told a
// cluster with cert-manager and prometheus-operator serves them.
var apiVersions = []string{"--api-versions", "cert-manager.io/v1", "--api-versions", "monitoring.coreos.com/v1"}

// template renders the chart with a values file (relative to testdata/values) and
// extra arguments, failing the test if helm fails.
func (h *helm) template(valuesFile string, extra ...string) string {
	h.t.Helper()
	args := append([]string{"template", release, chartDir(h.t), "--namespace", namespace}, apiVersions...)
	if valuesFile != "" {
		args = append(args, "--values", filepath.Join("testdata", "values", valuesFile))
	}
	r := h.run(append(args, extra...)...)
	if r.err != nil {
		h.t.Fatalf("helm %s:\n%s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// valueCases are the values files of the matrix, each a way the chart is installed.
func valueCases(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "values"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	if len(out) < 8 {
		t.Fatalf("only %d values files in testdata/values", len(out))
	}
	return out
}

// object is one rendered manifest, as JSON and as a map.
type object struct {
	raw  []byte
	data map[string]any
}

func (o object) kind() string { s, _ := o.data["kind"].(string); return s }
func (o object) name() string {
	m, _ := o.data["metadata"].(map[string]any)
	s, _ := m["name"].(string)
	return s
}
func (o object) namespace() string {
	m, _ := o.data["metadata"].(map[string]any)
	s, _ := m["namespace"].(string)
	return s
}
func (o object) String() string { return o.kind() + "/" + o.name() }

// into decodes the object into a typed API struct.
func (o object) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(o.raw, v); err != nil {
		t.Fatalf("decode %s: %v", o, err)
	}
}

// manifests is a rendered chart.
type manifests []object

// parse splits helm's output into objects, failing on YAML that does not parse.
func parse(t *testing.T, rendered string) manifests {
	t.Helper()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(rendered)))
	var out manifests
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("split the rendered chart: %v", err)
		}
		raw, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if string(raw) == "null" {
			continue
		}
		var data map[string]any
		if err := json.Unmarshal(raw, &data); err != nil {
			t.Fatalf("rendered document is not an object: %v\n%s", err, doc)
		}
		out = append(out, object{raw: raw, data: data})
	}
	return out
}

// find returns the objects of a kind.
func (m manifests) find(kind string) []object {
	var out []object
	for _, o := range m {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// get returns the object of a kind and name, failing the test when there is none.
func (m manifests) get(t *testing.T, kind, name string) object {
	t.Helper()
	for _, o := range m {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	t.Fatalf("no %s/%s rendered; have %v", kind, name, m.names())
	return object{}
}

func (m manifests) has(kind, name string) bool {
	return slices.ContainsFunc(m, func(o object) bool { return o.kind() == kind && o.name() == name })
}

func (m manifests) names() []string {
	var out []string
	for _, o := range m {
		out = append(out, o.String())
	}
	return out
}

// configMapData returns a key of a rendered ConfigMap.
func (m manifests) configMapData(t *testing.T, name string) map[string]string {
	t.Helper()
	var cm struct {
		Data map[string]string `json:"data"`
	}
	m.get(t, "ConfigMap", name).into(t, &cm)
	return cm.Data
}
