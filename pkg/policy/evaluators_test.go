package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/manifest"
	"github.com/bailiff/bailiff/test/bench/corpus"
	"github.com/bailiff/bailiff/test/podgen"
)

// TestIREvaluatesAsTopdown is the differential test of the two evaluators: for each
// configuration, an engine evaluating with the IR and one evaluating with topdown must
// give exactly the same validation and mutation results (violations with their
// messages, fields and details, exemptions, patches), or both fail, on every object of
// a corpus of several thousand: the example manifests, the benchmark corpus as
// AdmissionReviews of every operation, the generated pods of the Pod Security
// Standards differential test, the generated objects of every kind of the compilation
// test, and hand-written objects with odd, missing and mistyped fields.
func TestIREvaluatesAsTopdown(t *testing.T) {
	ctx := context.Background()
	inputs := differentialCorpus(t)
	type totals struct {
		violations, exempted, patches, skipped int
		fired                                  map[string]bool
	}
	all := map[string]*totals{}
	t.Run("configs", func(t *testing.T) {
		for name, cfg := range testConfigs(t) {
			sum := &totals{fired: map[string]bool{}}
			all[name] = sum
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				engine := func(ev Evaluator) *Engine {
					e, err := New(ctx, Options{Config: cfg, SkipTests: true, Evaluator: ev, Now: fixedNow})
					if err != nil {
						t.Fatal(err)
					}
					return e
				}
				ir, topdown := engine(IR), engine(Topdown)
				failures := 0
				for _, c := range inputs {
					for _, eval := range []struct {
						what string
						run  func(*Engine) (any, error)
					}{
						{"validation", func(e *Engine) (any, error) { return e.Evaluate(ctx, c.in) }},
						{"mutation", func(e *Engine) (any, error) { return e.Mutate(ctx, c.in) }},
					} {
						want, werr := eval.run(topdown)
						got, gerr := eval.run(ir)
						if (werr != nil) != (gerr != nil) || werr == nil && !reflect.DeepEqual(got, want) {
							failures++
							t.Errorf("%s, %s: the IR gives\n%s\ntopdown gives\n%s", c.name, eval.what, describe(got, gerr), describe(want, werr))
							if failures > 10 {
								t.FailNow()
							}
							continue
						}
						switch r := got.(type) {
						case *Result:
							sum.violations += len(r.Violations)
							sum.exempted += len(r.Exempted)
							for _, v := range append(r.Violations, exempted(r)...) {
								sum.fired[v.Policy] = true
							}
						case *Mutation:
							sum.patches += len(r.Patches)
							sum.skipped += len(r.Exempted)
						}
					}
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	// The comparison proves something only if the corpus makes the policies find things.
	patches, exemptions := 0, 0
	for name, s := range all {
		t.Logf("%s: %d objects, %d violations, %d exempted, %d patches, %d mutations exempted, %d policies fired",
			name, len(inputs), s.violations, s.exempted, s.patches, s.skipped, len(s.fired))
		if s.violations < len(inputs) {
			t.Errorf("%s: only %d violations in %d objects", name, s.violations, len(inputs))
		}
		patches += s.patches
		exemptions += s.exempted + s.skipped
	}
	if patches == 0 || exemptions == 0 || all["strict"].skipped == 0 {
		t.Errorf("the corpus gave %d patches, %d exemptions, %d of mutations: it must exercise all", patches, exemptions, all["strict"].skipped)
	}
	if policies := len(Embedded().mustPolicies(t)); len(all["strict"].fired) < policies*3/4 {
		t.Errorf("only %d of %d policies fired", len(all["strict"].fired), policies)
	}
}

func describe(v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	b, _ := json.MarshalIndent(v, "  ", "  ")
	return "  " + string(b)
}

// mustPolicies lists the ids of the policies of a source.
func (s Source) mustPolicies(t *testing.T) []string {
	t.Helper()
	set, err := buildSet(context.Background(), buildOptions{sources: []Source{s}, cfg: defaults(t), evaluator: Topdown})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range set.Policies() {
		ids = append(ids, p.ID)
	}
	return ids
}

// testConfigs are the configurations the engine is tested under: the default, the
// demo's, and a strict one with every section set.
func testConfigs(t *testing.T) map[string]*config.Config {
	t.Helper()
	demo, err := config.Load("../../test/demo/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	strict, err := config.Parse("strict.yaml", []byte(`
cluster: {name: strict, region: us-east-1}
images: {allowedRegistries: [ghcr.io/acme/team, quay.io], requireDigest: true, maxSeverity: none, unscanned: allow}
resources:
  require: [requests.cpu, limits.memory, limits.nvidia.com/gpu, requests.ephemeral-storage]
  defaults: {requests.cpu: 250m, limits.memory: 1Gi, limits.nvidia.com/gpu: "1"}
  max: {requests.cpu: 1500m, limits.memory: 2G, limits.nvidia.com/gpu: "2"}
placement: {dataClasses: {personal: {regions: [eu-west-1]}, public: {regions: [us-east-1]}}}
rbac: {privilegedRoles: [cluster-admin], allowedSubjects: ["User:alice", "ops"]}
podSecurity: {level: privileged}
enforcement: {BLF-PSS-007: audit}
exemptions:
  - {policy: BLF-IMG-001, namespace: shop, owner: team-shop, reason: mirror pending, expires: 2027-01-31}
  - {policy: BLF-RES-003, namespace: legacy, owner: team-legacy, reason: sized by hand, expires: 2027-01-31}
`))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*config.Config{"default": defaults(t), "demo": demo, "strict": strict}
}

// namedInput is one input of the differential corpus, named for failure messages.
type namedInput struct {
	name string
	in   *input.Input
}

// differentialCorpus builds the inputs of TestIREvaluatesAsTopdown; -short keeps a
// fifth of the generated ones.
func differentialCorpus(t *testing.T) []namedInput {
	t.Helper()
	scale := 1
	if testing.Short() {
		scale = 5
	}
	var out []namedInput
	add := func(name string, req input.Request, ctx input.Context) {
		t.Helper()
		in, err := input.New(req, ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, namedInput{name, in})
	}

	// The example manifests, in the namespaces they declare, under every operation.
	files, err := manifest.Files([]string{"../../test/examples"})
	if err != nil {
		t.Fatal(err)
	}
	examples, errs := manifest.ReadAll(files, nil)
	if len(errs) > 0 || len(examples) < 10 {
		t.Fatalf("read the examples: %d objects, errors %v", len(examples), errs)
	}
	namespaces := map[string]*input.Namespace{}
	for _, o := range examples {
		if o.Kind() == "Namespace" {
			meta, _ := mapOf(t, o)["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			namespaces[name] = &input.Namespace{Name: name, Labels: stringLabels(meta["labels"])}
		}
	}
	for _, o := range examples {
		for _, op := range []string{input.OpCreate, input.OpUpdate, input.OpDelete} {
			req := forObject(t, mapOf(t, o))
			req.Operation = op
			if op != input.OpCreate {
				req.OldObject = req.Object
			}
			if op == input.OpDelete {
				req.Object = nil
			}
			add(fmt.Sprintf("%s %s", o.Source(), op), req, described(req, namespaces[req.Namespace], input.ModeScan))
		}
	}

	// The benchmark corpus, as AdmissionReviews the API server sends (numbers exact).
	for i := range 400 / scale {
		var obj map[string]any
		docs, errs := manifest.Decode("corpus", strings.NewReader(corpus.Object(i)))
		if len(errs) > 0 || len(docs) != 1 {
			t.Fatalf("corpus object %d: %v", i, errs)
		}
		obj = mapOf(t, docs[0])
		op := []string{input.OpCreate, input.OpCreate, input.OpUpdate, input.OpDelete}[i%4]
		req := admissionRequest(t, obj, op)
		add(fmt.Sprintf("corpus %d %s", i, op), req, described(req, namespaces[req.Namespace], input.ModeAdmission))
	}

	// The pods of the Pod Security Standards differential test, as Pods, Deployments
	// and CronJobs.
	gen := podgen.New(rand.New(rand.NewPCG(1, 2)))
	for i := range 1500 / scale {
		pod := gen.Pod(i)
		var obj any = pod
		switch i % 3 {
		case 1:
			obj = podgen.AsDeployment(pod)
		case 2:
			obj = podgen.AsCronJob(pod)
		}
		m := toMap(t, obj)
		req := forObject(t, m)
		add(fmt.Sprintf("pss pod %d (%s)", i, req.Kind.Kind), req, described(req, namespaces[req.Namespace], input.ModeAdmission))
	}

	// The objects of every kind of the compilation test.
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range 1200 / scale {
		in := generatedInput(t, rng, i)
		out = append(out, namedInput{fmt.Sprintf("generated %d (%s)", i, in.Kind), in})
	}

	// Objects with odd, missing and mistyped fields, as JSON (exact numbers) and YAML.
	for i, src := range oddObjects {
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(src))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("odd object %d: %v", i, err)
		}
		yamlObjs, errs := manifest.Decode("odd.yaml", strings.NewReader(src))
		for j, o := range append([]map[string]any{obj}, objects(t, yamlObjs, errs)...) {
			for _, op := range []string{input.OpCreate, input.OpUpdate} {
				req := forObject(t, o)
				req.Operation = op
				if op == input.OpUpdate {
					req.OldObject = forObject(t, map[string]any{"kind": o["kind"], "metadata": map[string]any{"name": "old"}}).Object
				}
				add(fmt.Sprintf("odd object %d.%d %s", i, j, op), req, described(req, namespaces["legacy"], input.ModeAdmission))
			}
		}
	}
	return out
}

// objects keeps the objects of a manifest decoded without error.
func objects(t *testing.T, objs []manifest.Object, errs []error) []map[string]any {
	if len(errs) > 0 {
		return nil
	}
	var out []map[string]any
	for _, o := range objs {
		out = append(out, mapOf(t, o))
	}
	return out
}

// mapOf is a manifest object in its Go form.
func mapOf(t *testing.T, o manifest.Object) map[string]any {
	t.Helper()
	m, err := o.Map()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// described is a context with the request's images described as the scanner leaves
// them when it has not scanned them.
func described(req input.Request, ns *input.Namespace, mode input.Mode) input.Context {
	ctx := input.Context{Mode: mode, Cluster: input.Cluster{Name: "c", Region: "eu-west-1"}, Namespace: ns}
	obj := req.Object
	if obj == nil {
		obj = req.OldObject
	}
	if refs := input.ContainerImages(obj, req.Kind.Kind); len(refs) > 0 {
		ctx.Images = images.DescribeAll(refs, "pending")
	}
	return ctx
}

// admissionRequest builds input.request as the webhook does from an AdmissionReview.
func admissionRequest(t *testing.T, obj map[string]any, op string) input.Request {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	base := forObject(t, obj)
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("uid"),
		Operation: admissionv1.Operation(op),
		Namespace: base.Namespace,
		Name:      base.Name,
		Kind:      metav1.GroupVersionKind{Group: base.Kind.Group, Version: base.Kind.Version, Kind: base.Kind.Kind},
		UserInfo:  authenticationv1.UserInfo{Username: "loadgen", Groups: []string{"system:authenticated"}},
	}
	switch op {
	case input.OpCreate:
		req.Object = runtime.RawExtension{Raw: raw}
	case input.OpUpdate:
		req.Object, req.OldObject = runtime.RawExtension{Raw: raw}, runtime.RawExtension{Raw: bytes.Clone(raw)}
	case input.OpDelete:
		req.OldObject = runtime.RawExtension{Raw: raw}
	}
	out, err := input.ForAdmission(req)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func stringLabels(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, x := range m {
		if s, ok := x.(string); ok {
			out[k] = s
		}
	}
	return out
}

// oddObjects are objects an API server would refuse or that only a hand-written
// manifest has: missing, null and mistyped fields, numbers as strings and strings as
// numbers, exponents and huge integers.
var oddObjects = []string{
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-spec", "namespace": "legacy"}}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "null-spec", "namespace": "legacy"}, "spec": null}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "list-spec"}, "spec": []}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "null-containers"}, "spec": {"containers": null}}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "object-containers"}, "spec": {"containers": {"name": "a", "image": "nginx"}}}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "string-containers"}, "spec": {"containers": "nginx"}}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty-containers", "labels": null}, "spec": {"containers": []}}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "odd-images", "namespace": "shop"}, "spec": {"containers": [{"name": "a", "image": 123}, {"name": "b"}, {"name": "c", "image": ""}, {"name": "d", "image": "UPPER/Case:tag"}, {"image": "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]}}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "numbers-as-strings", "labels": {"n": 1, "bailiff.io/data-class": 7}}, "spec": {"securityContext": {"runAsUser": "0", "runAsNonRoot": "true", "fsGroup": "2000"}, "hostNetwork": "true", "containers": [{"name": "a", "image": "nginx:1", "ports": [{"containerPort": "80", "hostPort": "8080"}], "securityContext": {"privileged": "false", "allowPrivilegeEscalation": "false", "runAsUser": "1000", "capabilities": {"add": "NET_ADMIN", "drop": ["ALL", 1, null]}}, "resources": {"requests": {"cpu": 0.5, "memory": 1073741824}, "limits": {"cpu": 2, "memory": 1.5e9}}}]}}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "float-numbers"}, "spec": {"securityContext": {"runAsUser": 0.0, "runAsNonRoot": true}, "containers": [{"name": "a", "image": "nginx:1", "ports": [{"containerPort": 8080.0, "hostPort": 0.0}, {"containerPort": 1e3, "hostPort": 1e3}], "securityContext": {"runAsUser": 1e3, "capabilities": {"drop": ["ALL"]}}, "resources": {"requests": {"cpu": "0.5", "memory": "1e3"}, "limits": {"cpu": "2000m", "memory": "1.5Gi"}}}]}}`,
	`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge-numbers"}, "spec": {"securityContext": {"runAsUser": 9007199254740993, "seccompProfile": {"type": "RuntimeDefault"}}, "containers": [{"name": "a", "image": "nginx:1", "securityContext": {"runAsUser": -1, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}, "resources": {"requests": {"cpu": "100000000000000000000", "memory": "99999999999999999999Ei"}, "limits": {"cpu": "1e-3", "memory": "-1Gi"}}}]}}`,
	`{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "odd-deploy", "namespace": "customers", "labels": {"bailiff.io/data-class": "personal"}}, "spec": {"replicas": "3", "template": {"metadata": {"labels": {"bailiff.io/data-class": ["personal"]}}, "spec": {"nodeSelector": {"topology.kubernetes.io/region": 1}, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "topology.kubernetes.io/region", "operator": "In", "values": "eu-west-1"}]}, null, {}]}}}, "containers": [{"name": "ünïcödé", "image": "registry.example.com/shop/api:1.4.2"}]}}}}`,
	`{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "template-null"}, "spec": {"template": null}}`,
	`{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cron-odd"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": "busybox", "securityContext": {"privileged": true}}], "containers": [{"name": "c", "image": "busybox", "securityContext": null}]}}}}}}`,
	`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "odd-role", "namespace": "shop"}, "rules": [{"apiGroups": "", "resources": "secrets", "verbs": "*"}, null, {"verbs": ["get"]}, {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", 7]}]}`,
	`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "null-rules"}, "rules": null}`,
	`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "aggregated"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}`,
	`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "odd-binding"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": null}`,
	`{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "no-roleref", "namespace": "shop"}, "subjects": [{"kind": "Group", "name": "system:masters"}, {"kind": "User"}, "alice"]}`,
	`{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "shop"}, "automountServiceAccountToken": "false"}`,
	`{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "pvc", "namespace": "customers", "labels": {"bailiff.io/data-class": "personal"}}, "spec": {"storageClassName": 42}}`,
	`{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "pvc-null", "namespace": "customers"}, "spec": {"storageClassName": null}}`,
	`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "shop"}, "data": {"k": "v"}}`,
	`{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"containers": [{"name": "a", "image": "nginx"}]}}`,
	`{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "labels": {"bailiff.io/data-class": "secret"}}}`,
	`{"kind": "Pod"}`,
}

// TestEvaluatorsFailAlike: a policy that fails at run time, or an evaluation whose
// context is done, is an error with either evaluator, never a result.
func TestEvaluatorsFailAlike(t *testing.T) {
	conflicting := `# METADATA
# title: Conflicts
# scope: package
# custom:
#   id: TST-009
#   severity: low
#   enforcement: deny
#   kinds: [Pod]
#   controls: []
package bailiff.test.conflicts

level := "a" if input.request.object.metadata.name
level := "b" if input.request.object.metadata.namespace

twice(x) := 1 if x
twice(x) := 2 if x

violation contains {"msg": level} if input.request.object.spec.level
violation contains {"msg": "twice"} if twice(input.request.object.spec.twice) == 1
`
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		spec map[string]any
		want string
	}{
		{"a complete rule with two values", context.Background(), map[string]any{"level": true}, "eval_conflict_error"},
		{"a function with two values for one input", context.Background(), map[string]any{"twice": true}, "eval_conflict_error"},
		{"a cancelled context", cancelled, map[string]any{}, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := pod("ns", nil)
			obj["spec"] = tc.spec
			in := objectInput(t, obj, input.OpCreate)
			for _, ev := range []Evaluator{IR, Topdown} {
				e, err := New(context.Background(), Options{Sources: []Source{testSource(map[string]string{"c.rego": conflicting})}, Config: defaults(t), SkipTests: true, Evaluator: ev})
				if err != nil {
					t.Fatal(err)
				}
				res, err := e.Evaluate(tc.ctx, in)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: got %+v, %v; want an error with %q", ev, res, err, tc.want)
				}
			}
		})
	}
}

// TestIREngineIsSafeForConcurrentUse: evaluations at once on one engine, as the webhook
// makes them, give what they give one at a time. Run with -race.
func TestIREngineIsSafeForConcurrentUse(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Options{Config: defaults(t), SkipTests: true, Evaluator: IR, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	inputs := make([]*input.Input, 60)
	want := make([][2]any, len(inputs))
	for i := range inputs {
		inputs[i] = generatedInput(t, rng, i)
		v, err := e.Evaluate(ctx, inputs[i])
		if err != nil {
			t.Fatal(err)
		}
		m, err := e.Mutate(ctx, inputs[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = [2]any{v, m}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for n := range 3 * len(inputs) {
				i := (n*7 + g) % len(inputs)
				v, err := e.Evaluate(ctx, inputs[i])
				if err != nil {
					errs <- err
					return
				}
				m, err := e.Mutate(ctx, inputs[i])
				if err != nil || !reflect.DeepEqual([2]any{v, m}, want[i]) {
					errs <- fmt.Errorf("input %d differs when evaluated concurrently (%v)", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
