// Command audit measures a full audit on a real API server: it creates N objects (a mix
// of Pods, Deployments, Roles and RoleBindings, a fifth with deliberate violations) through
// kube-apiserver, then runs `bailiff audit --once` against them twice, first with an
// empty store and then with the store the first run filled (as after a restart), and
// prints for each run the sweep's evaluation time, its time with every result in the
// store, the whole process's wall time, and its peak RSS.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/bailiff/bailiff/test/kube"
)

func main() {
	assets := flag.String("assets", "bin", "directory with kube-apiserver, etcd and kubectl")
	bailiff := flag.String("bailiff", "bin/bailiff", "the bailiff binary")
	configFile := flag.String("config", "test/demo/config.yaml", "Bailiff configuration")
	crds := flag.String("crds", "charts/bailiff/crds", "the PolicyReport CRDs")
	n := flag.Int("n", 10000, "objects to create")
	namespaces := flag.Int("namespaces", 20, "namespaces to spread them over")
	flag.StringVar(&profile, "heap-profile", "", "write the auditor's heap profile after its first sweep to this file")
	flag.Parse()
	if err := run(*assets, *bailiff, *configFile, *crds, *n, *namespaces); err != nil {
		fmt.Fprintln(os.Stderr, "bench audit:", err)
		os.Exit(1)
	}
}

func run(assets, bailiff, configFile, crds string, n, namespaces int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bailiff-bench-audit")
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
	if _, stderr, err := c.Kubectl("", "apply", "-f", crds); err != nil {
		return fmt.Errorf("install the CRDs: %v: %s", err, stderr)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := create(ctx, client, n, namespaces); err != nil {
		return err
	}
	fmt.Printf("created %d objects (Pods, Deployments, Roles, RoleBindings; a fifth with deliberate violations) in %d namespaces in %s\n",
		n, namespaces, time.Since(start).Round(time.Millisecond))

	dsn := "sqlite://" + filepath.Join(dir, "bench.db")
	first := []string{"--interval", "10s"}
	if profile != "" {
		first = append(first, "--pprof-addr", "127.0.0.1:16060")
	}
	r, err := audit(bailiff, c.Kubeconfig, configFile, dsn, 2, first...)
	if err != nil {
		return err
	}
	fmt.Printf("bailiff audit, first sweep (empty store): %d objects (%d failing) evaluated in %.2fs, every result in the store after %.2fs\n",
		r.sweeps[0].Objects, r.sweeps[0].Failing, r.sweeps[0].Evaluate, r.sweeps[0].Total)
	fmt.Printf("bailiff audit, next sweep (steady state): %d objects evaluated in %.2fs, changes in the store after %.2fs; peak RSS %d MiB\n",
		r.sweeps[1].Objects, r.sweeps[1].Evaluate, r.sweeps[1].Total, r.maxRSS>>20)
	r, err = audit(bailiff, c.Kubeconfig, configFile, dsn, 1, "--once")
	if err != nil {
		return err
	}
	fmt.Printf("bailiff audit --once after a restart (store filled): evaluated in %.2fs, in the store after %.2fs; process %.2fs from start to exit, peak RSS %d MiB\n",
		r.sweeps[0].Evaluate, r.sweeps[0].Total, r.wall.Seconds(), r.maxRSS>>20)
	return nil
}

// create makes n objects through the API server, 32 requests at a time.
func create(ctx context.Context, client dynamic.Interface, n, namespaces int) error {
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	saGVR := schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	for i := range namespaces {
		ns := fmt.Sprintf("bench-%02d", i)
		if _, err := client.Resource(nsGVR).Create(ctx, object(fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", ns)), metav1.CreateOptions{}); err != nil {
			return err
		}
		sa := fmt.Sprintf("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app, namespace: %s}\nautomountServiceAccountToken: false\n", ns)
		if _, err := client.Resource(saGVR).Namespace(ns).Create(ctx, object(sa), metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range jobs {
				gvr, obj := benchObject(i, namespaces)
				if _, err := client.Resource(gvr).Namespace(obj.GetNamespace()).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
					select {
					case errs <- fmt.Errorf("create %s %s: %w", obj.GetKind(), obj.GetName(), err):
					default:
					}
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func object(doc string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		panic(err)
	}
	return u
}

// benchObject is the i-th object: kinds in turn, every fifth violating.
func benchObject(i, namespaces int) (schema.GroupVersionResource, *unstructured.Unstructured) {
	ns := fmt.Sprintf("bench-%02d", i%namespaces)
	name := fmt.Sprintf("obj-%05d", i)
	image, privileged, verbs := "registry.example.com/shop/api:1.4.2", "false", "[get, list, watch]"
	if i%5 == 0 {
		image, privileged, verbs = "docker.io/library/nginx:latest", "true", `["*"]`
	}
	podSpec := fmt.Sprintf(`serviceAccountName: app
automountServiceAccountToken: false
securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
containers:
  - name: api
    image: %s
    resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
    securityContext: {allowPrivilegeEscalation: %s, privileged: %s, capabilities: {drop: [ALL]}}
`, image, privileged, privileged)
	switch i % 4 {
	case 0:
		return schema.GroupVersionResource{Version: "v1", Resource: "pods"},
			object(fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec:\n%s", name, ns, indent(podSpec, 2)))
	case 1:
		return schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
			object(fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: %s}\nspec:\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec:\n%s",
				name, ns, name, name, indent(podSpec, 6)))
	case 2:
		return schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
			object(fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: %s, namespace: %s}\nrules:\n  - {apiGroups: [\"\"], resources: [configmaps], verbs: %s}\n", name, ns, verbs))
	default:
		role := "view"
		if i%5 == 0 {
			role = "cluster-admin"
		}
		return schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
			object(fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: %s, namespace: %s}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %s}\nsubjects:\n  - {kind: ServiceAccount, name: app, namespace: %s}\n", name, ns, role, ns))
	}
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// profile is where -heap-profile writes.
var profile string

// saveProfile fetches the auditor's heap profile.
func saveProfile(path string) error {
	resp, err := http.Get("http://127.0.0.1:16060/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

type sweep struct {
	Msg      string  `json:"msg"`
	Objects  int     `json:"objects"`
	Failing  int     `json:"failing"`
	Evaluate float64 `json:"evaluateSeconds"`
	Total    float64 `json:"totalSeconds"`
}

type result struct {
	sweeps []sweep
	wall   time.Duration
	maxRSS int64
}

// audit runs bailiff audit until it has logged n sweeps (then interrupts it,
// unless it exits by itself) and reads the sweeps from its log.
func audit(bailiff, kubeconfig, configFile, dsn string, n int, extra ...string) (result, error) {
	args := append([]string{"audit", "--kubeconfig", kubeconfig, "--config", configFile, "--store", dsn,
		"--leader-elect=false", "--metrics-addr", "0", "--health-addr", "0", "--log-format", "json"}, extra...)
	cmd := exec.Command(bailiff, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	var r result
	var logs bytes.Buffer
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		logs.Write(sc.Bytes())
		logs.WriteByte('\n')
		var line sweep
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "sweep done" {
			r.sweeps = append(r.sweeps, line)
			if profile != "" && len(r.sweeps) == 1 && slices.Contains(extra, "--pprof-addr") {
				if err := saveProfile(profile); err != nil {
					return result{}, err
				}
			}
			if len(r.sweeps) == n {
				_ = cmd.Process.Signal(os.Interrupt)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return result{}, fmt.Errorf("bailiff audit: %v\n%s", err, logs.String())
	}
	r.wall = time.Since(start)
	if os.Getenv("BENCH_LOGS") != "" {
		os.Stderr.Write(logs.Bytes())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss << 10 // kilobytes on Linux
	}
	if len(r.sweeps) < n {
		return result{}, fmt.Errorf("bailiff audit logged %d sweeps, not %d\n%s", len(r.sweeps), n, logs.String())
	}
	return r, nil
}
