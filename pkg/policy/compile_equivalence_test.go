package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/input"
)

// TestCompiledForEvaluationMeansTheSame checks the two rewrites compileForEval makes
// (rules of the configuration folded into constants, each query's violation rules
// combined into one) against the policies evaluated as written: for several
// configurations and a few thousand generated objects of every kind the library looks
// at, validation and mutation must give the same result, exemptions included.
func TestCompiledForEvaluationMeansTheSame(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range testConfigs(t) {
		t.Run(name, func(t *testing.T) {
			set := func(literal bool) *Set {
				s, err := buildSet(ctx, buildOptions{sources: []Source{Embedded()}, cfg: cfg, literal: literal})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			literal, compiled := &Engine{now: fixedNow}, &Engine{now: fixedNow}
			literal.current.Store(set(true))
			compiled.current.Store(set(false))
			rng := rand.New(rand.NewPCG(7, uint64(len(name))))
			fired := map[string]bool{}
			for i := range 600 {
				in := generatedInput(t, rng, i)
				for _, eval := range []struct {
					what string
					run  func(*Engine) (any, error)
				}{
					{"validation", func(e *Engine) (any, error) { return e.Evaluate(ctx, in) }},
					{"mutation", func(e *Engine) (any, error) { return e.Mutate(ctx, in) }},
				} {
					want, err := eval.run(literal)
					if err != nil {
						t.Fatalf("object %d, as written: %v", i, err)
					}
					got, err := eval.run(compiled)
					if err != nil {
						t.Fatalf("object %d, compiled: %v", i, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("object %d (%s %s): %s differs\n got: %+v\nwant: %+v", i, in.Kind, in.Name, eval.what, got, want)
					}
					if r, ok := got.(*Result); ok {
						for _, v := range append(r.Violations, exempted(r)...) {
							fired[v.Policy] = true
						}
					}
				}
			}
			// The corpus must make most policies fire, or the comparison proves little.
			if policies := len(compiled.Set().Policies()); len(fired) < policies*3/4 {
				t.Errorf("only %d of %d policies found anything in the corpus: %v", len(fired), policies, fired)
			}
		})
	}
}

func exempted(r *Result) []Violation {
	var vs []Violation
	for _, e := range r.Exempted {
		vs = append(vs, e.Violation)
	}
	return vs
}

func fixedNow() time.Time { return time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) }

// generatedInput is the i-th object of a random corpus: workloads of every pod-bearing
// kind whose pod specs draw each field the library reads from a few values (absent,
// null, allowed, refused, malformed), and RBAC objects, service accounts and claims.
func generatedInput(t *testing.T, rng *rand.Rand, i int) *input.Input {
	t.Helper()
	pick := func(xs ...any) any { return xs[rng.IntN(len(xs))] }
	set := func(m map[string]any, key string, v any) {
		if v != absent {
			m[key] = v
		}
	}
	var obj map[string]any
	kind := pick("Pod", "Deployment", "CronJob", "Job", "StatefulSet", "DaemonSet", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount", "PersistentVolumeClaim").(string)
	meta := map[string]any{"name": fmt.Sprintf("obj-%d", i), "namespace": pick("shop", "legacy", "kube-system")}
	labels := map[string]any{"app": "x"}
	set(labels, "bailiff.io/data-class", pick(absent, absent, "personal", "public", "secret"))
	images := map[string]input.Image{}
	switch kind {
	case "Role", "ClusterRole":
		rule := map[string]any{}
		set(rule, "apiGroups", pick(absent, []any{""}, []any{"*"}, []any{"apps", ""}, []any{"certificates.k8s.io"}, []any{"admissionregistration.k8s.io"}))
		set(rule, "resources", pick(absent, []any{"pods"}, []any{"*"}, []any{"secrets"}, []any{"pods/exec"}, []any{"nodes/proxy"}, []any{"serviceaccounts/token"}, []any{"*/status"}, []any{"persistentvolumes"}, []any{"certificatesigningrequests/approval", "signers"}, []any{"validatingwebhookconfigurations"}))
		set(rule, "verbs", pick(absent, []any{"get", "list"}, []any{"*"}, []any{"create"}, []any{"approve"}, []any{"update", "patch"}, []any{"escalate", "bind"}))
		set(rule, "resourceNames", pick(absent, absent, []any{"one"}))
		if rng.IntN(3) == 0 {
			meta["labels"] = map[string]any{"kubernetes.io/bootstrapping": "rbac-defaults"}
			meta["name"] = pick("cluster-admin", "system:controller:x", "edit")
		}
		obj = map[string]any{"rules": []any{rule, pick(map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"}, "verbs": []any{"get"}}, rule)}}
	case "RoleBinding", "ClusterRoleBinding":
		subject := map[string]any{"kind": pick("User", "Group", "ServiceAccount"), "name": pick("alice", "ops", "system:anonymous", "system:unauthenticated", "system:masters", "default")}
		set(subject, "namespace", pick(absent, "shop"))
		obj = map[string]any{
			"roleRef":  map[string]any{"kind": pick("Role", "ClusterRole"), "name": pick("cluster-admin", "admin", "edit", "view", "reader")},
			"subjects": pick([]any{subject}, []any{}, []any{subject, map[string]any{"kind": "Group", "name": "system:authenticated"}}),
		}
	case "ServiceAccount":
		meta["name"] = pick("default", "api")
		obj = map[string]any{}
		set(obj, "automountServiceAccountToken", pick(absent, true, false, nil))
	case "PersistentVolumeClaim":
		meta["labels"] = labels
		obj = map[string]any{"spec": map[string]any{"storageClassName": pick("eu", "anywhere", "missing")}}
	default:
		spec := podSpec(rng, pick, set, images)
		template := map[string]any{"metadata": map[string]any{"labels": labels, "annotations": pick(map[string]any{}, map[string]any{"container.apparmor.security.beta.kubernetes.io/app": pick("runtime/default", "unconfined", "localhost/x", "")})}, "spec": spec}
		switch kind {
		case "Pod":
			meta["labels"], meta["annotations"] = labels, template["metadata"].(map[string]any)["annotations"]
			obj = map[string]any{"spec": spec}
		case "CronJob":
			obj = map[string]any{"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}}
		default:
			obj = map[string]any{"spec": map[string]any{"template": template}}
		}
	}
	obj["apiVersion"], obj["kind"], obj["metadata"] = "v1", kind, meta
	req := forObject(t, obj)
	req.Operation = pick(input.OpCreate, input.OpCreate, "UPDATE").(string)
	ctx := input.Context{Mode: input.ModeAdmission, Cluster: input.Cluster{Name: "c", Region: pick("eu-west-1", "us-east-1", "").(string)}, Images: images}
	if rng.IntN(2) == 0 {
		nsLabels := map[string]string{}
		if rng.IntN(2) == 0 {
			nsLabels["bailiff.io/data-class"] = pick("personal", "unknown").(string)
		}
		ctx.Namespace = &input.Namespace{Name: meta["namespace"].(string), Labels: nsLabels}
	}
	if kind == "PersistentVolumeClaim" && rng.IntN(2) == 0 {
		ctx.StorageClasses = map[string]map[string]any{
			"eu":       {"allowedTopologies": []any{map[string]any{"matchLabelExpressions": []any{map[string]any{"key": "topology.kubernetes.io/region", "values": []any{"eu-west-1"}}}}}},
			"anywhere": {},
		}
	}
	in, err := input.New(req, ctx)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// absent marks a field left out.
var absent = &struct{}{}

func podSpec(rng *rand.Rand, pick func(...any) any, set func(map[string]any, string, any), images map[string]input.Image) map[string]any {
	spec := map[string]any{}
	for _, key := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		set(spec, key, pick(absent, absent, false, true))
	}
	set(spec, "hostUsers", pick(absent, absent, false, true, nil))
	set(spec, "os", pick(absent, absent, map[string]any{"name": "windows"}, map[string]any{"name": "linux"}))
	set(spec, "serviceAccountName", pick(absent, "default", "api", ""))
	set(spec, "serviceAccount", pick(absent, absent, "default"))
	set(spec, "automountServiceAccountToken", pick(absent, false, true))
	set(spec, "nodeSelector", pick(absent, absent, map[string]any{"topology.kubernetes.io/region": pick("eu-west-1", "us-east-1")}))
	if rng.IntN(4) == 0 {
		spec["affinity"] = map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{"nodeSelectorTerms": []any{
			map[string]any{"matchExpressions": []any{map[string]any{"key": pick("topology.kubernetes.io/region", "disk"), "operator": pick("In", "NotIn"), "values": pick([]any{"eu-west-1"}, []any{"eu-west-1", "us-east-1"})}}},
		}}}}
	}
	podSC := map[string]any{}
	fillSecurityContext(pick, set, podSC, true)
	set(spec, "securityContext", pick(absent, podSC, podSC, nil))
	if rng.IntN(3) == 0 {
		volume := map[string]any{"name": "v"}
		volume[pick("hostPath", "nfs", "configMap", "emptyDir", "gcePersistentDisk", "unknownSource").(string)] = map[string]any{"path": "/x"}
		spec["volumes"] = []any{volume, map[string]any{"name": "w", "secret": map[string]any{}}}
	}
	for _, typ := range []string{"containers", "initContainers", "ephemeralContainers"} {
		n := rng.IntN(3)
		if typ == "containers" {
			n++
		}
		if typ == "ephemeralContainers" && rng.IntN(3) != 0 {
			continue
		}
		var cs []any
		for j := range n {
			cs = append(cs, container(rng, pick, set, images, fmt.Sprintf("%s-%d", typ[:4], j)))
		}
		spec[typ] = cs
	}
	return spec
}

func fillSecurityContext(pick func(...any) any, set func(map[string]any, string, any), sc map[string]any, pod bool) {
	set(sc, "runAsNonRoot", pick(absent, true, false, nil))
	set(sc, "runAsUser", pick(absent, absent, 0, 1000))
	set(sc, "seccompProfile", pick(absent, map[string]any{"type": "RuntimeDefault"}, map[string]any{"type": "Unconfined"}, map[string]any{"type": "Localhost", "localhostProfile": "p"}, map[string]any{}, nil))
	set(sc, "appArmorProfile", pick(absent, absent, map[string]any{"type": "RuntimeDefault"}, map[string]any{"type": "Unconfined"}))
	set(sc, "seLinuxOptions", pick(absent, absent, map[string]any{"type": "container_t"}, map[string]any{"type": "spc_t"}, map[string]any{"user": "u", "role": ""}))
	set(sc, "windowsOptions", pick(absent, absent, map[string]any{"hostProcess": true}, map[string]any{"hostProcess": false}))
	if pod {
		set(sc, "sysctls", pick(absent, absent, []any{map[string]any{"name": "kernel.shm_rmid_forced", "value": "1"}}, []any{map[string]any{"name": "kernel.msgmax", "value": "1"}}))
		return
	}
	set(sc, "privileged", pick(absent, absent, false, true, nil))
	set(sc, "allowPrivilegeEscalation", pick(absent, false, false, true, nil))
	set(sc, "procMount", pick(absent, absent, "Default", "Unmasked", nil))
	caps := map[string]any{}
	set(caps, "drop", pick(absent, []any{"ALL"}, []any{"ALL"}, []any{"all"}, []any{"NET_RAW"}, nil))
	set(caps, "add", pick(absent, absent, []any{"NET_BIND_SERVICE"}, []any{"CHOWN"}, []any{"SYS_ADMIN", "NET_BIND_SERVICE"}))
	set(sc, "capabilities", pick(absent, caps, caps, caps))
}

func container(rng *rand.Rand, pick func(...any) any, set func(map[string]any, string, any), images map[string]input.Image, name string) map[string]any {
	c := map[string]any{"name": name}
	ref := pick("registry.example.com/shop/api:1.4.2", "ghcr.io/acme/team/x:1", "ghcr.io/acme/teamx:1", "quay.io/y@sha256:abc", "nginx", "nginx:latest", "INVALID REF").(string)
	c["image"] = ref
	img := input.Image{Reference: ref, Registry: "docker.io", Repository: "library/nginx", Scanned: rng.IntN(4) != 0}
	switch ref {
	case "registry.example.com/shop/api:1.4.2":
		img.Registry, img.Repository, img.Tag = "registry.example.com", "shop/api", "1.4.2"
	case "ghcr.io/acme/team/x:1":
		img.Registry, img.Repository, img.Tag = "ghcr.io", "acme/team/x", "1"
	case "ghcr.io/acme/teamx:1":
		img.Registry, img.Repository, img.Tag = "ghcr.io", "acme/teamx", "1"
	case "quay.io/y@sha256:abc":
		img.Registry, img.Repository, img.Digest = "quay.io", "y", "sha256:abc"
	case "nginx:latest":
		img.Tag = "latest"
	case "INVALID REF":
		img = input.Image{Reference: ref, Error: "invalid reference format"}
	}
	if img.Scanned {
		scan := &input.ScanResult{ScannedAt: "2026-11-20T00:00:00Z", DBUpdatedAt: "2026-11-20T00:00:00Z"}
		switch rng.IntN(4) {
		case 0:
			scan.Critical = 1
			scan.Vulnerabilities = []input.Vulnerability{{ID: "CVE-1", Severity: "CRITICAL", Package: "openssl", Installed: "3.0.1", Fixed: "3.0.2"}}
		case 1:
			scan.Low, scan.Medium = 2, 1
			scan.Vulnerabilities = []input.Vulnerability{{ID: "CVE-2", Severity: "medium", Package: "zlib"}, {ID: "CVE-3", Severity: "Low"}}
		}
		img.Scan = scan
	} else if img.Error == "" {
		img.UnscannedReason = pick("", "pending", "failed: timeout", "db stale", "offline").(string)
	}
	images[ref] = img
	if rng.IntN(3) == 0 {
		c["ports"] = []any{map[string]any{"containerPort": 80}, pick(map[string]any{"containerPort": 81, "hostPort": 8081}, map[string]any{"containerPort": 82, "hostPort": 0})}
	}
	if rng.IntN(4) == 0 {
		probe := map[string]any{"httpGet": map[string]any{"path": "/", "port": 80}}
		set(probe["httpGet"].(map[string]any), "host", pick(absent, "", "10.0.0.1"))
		c[pick("livenessProbe", "readinessProbe", "startupProbe").(string)] = probe
		c["lifecycle"] = map[string]any{"preStop": map[string]any{"tcpSocket": map[string]any{"port": 80, "host": pick("", "evil")}}}
	}
	quantity := func() any {
		return pick(absent, "250m", "2", "1500m", "512Mi", "2Gi", "1e3", "lots", nil, 1, "999999999999Mi")
	}
	requests, limits := map[string]any{}, map[string]any{}
	set(requests, "cpu", quantity())
	set(requests, "memory", quantity())
	set(requests, "ephemeral-storage", pick(absent, "1Gi"))
	set(limits, "memory", quantity())
	set(limits, "cpu", quantity())
	set(limits, "nvidia.com/gpu", pick(absent, absent, "1", "4"))
	resources := map[string]any{}
	set(resources, "requests", pick(absent, requests, requests, nil))
	set(resources, "limits", pick(absent, limits, limits, nil))
	set(c, "resources", pick(absent, resources, resources, resources))
	sc := map[string]any{}
	fillSecurityContext(pick, set, sc, false)
	set(c, "securityContext", pick(absent, sc, sc, sc, nil))
	return c
}
