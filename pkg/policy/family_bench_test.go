package policy

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy/ireval"
)

func benchEngine(b *testing.B, evaluator Evaluator) *Engine {
	b.Helper()
	cfg, err := config.Load("../../test/demo/config.yaml")
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(context.Background(), Options{Config: cfg, SkipTests: true, Evaluator: evaluator})
	if err != nil {
		b.Fatal(err)
	}
	// Building the engine leaves tens of megabytes of garbage; collected now, its
	// collection is not timed as part of the first evaluations.
	runtime.GC()
	return e
}

// evaluators are the evaluators the engine benchmarks compare, by sub-benchmark name.
var evaluators = []Evaluator{IR, Topdown}

// BenchmarkEvaluateDeployment is the number: a typical compliant
// three-container Deployment against the whole library (validation), input built, with
// each evaluator.
func BenchmarkEvaluateDeployment(b *testing.B) {
	for _, ev := range evaluators {
		b.Run(ev.String(), func(b *testing.B) { benchEvaluateDeployment(b, ev) })
	}
}

func benchEvaluateDeployment(b *testing.B, ev Evaluator) {
	e := benchEngine(b, ev)
	in := benchDeploymentInput(b)
	ctx := context.Background()
	res, err := e.Evaluate(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	if len(res.ByEnforcement(Deny)) > 0 {
		b.Fatalf("the benchmark Deployment must be compliant: %+v", res.Violations)
	}
	b.ReportMetric(float64(res.Evaluated), "policies")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAdmitDeployment is the whole per-object cost at admission: build the input,
// mutate, validate; with each evaluator.
func BenchmarkAdmitDeployment(b *testing.B) {
	for _, ev := range evaluators {
		b.Run(ev.String(), func(b *testing.B) { benchAdmitDeployment(b, ev) })
	}
}

func benchAdmitDeployment(b *testing.B, ev Evaluator) {
	e := benchEngine(b, ev)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		in := benchDeploymentInput(b)
		if _, err := e.Mutate(ctx, in); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFamilies splits BenchmarkEvaluateDeployment's cost by policy family: each
// sub-benchmark evaluates one family's validating policies (plus the shared container
// list) in one query, as the engine does, against the same compliant three-container
// Deployment, with each evaluator. "shared" is the container list alone; a family's own
// cost is its time minus shared.
func BenchmarkFamilies(b *testing.B) {
	ctx := context.Background()
	mods, err := readModules([]Source{Embedded()}, false)
	if err != nil {
		b.Fatal(err)
	}
	modules := map[string]*ast.Module{}
	families := map[string][]string{}
	for _, m := range mods {
		if m.test {
			continue
		}
		modules[m.file] = m.parsed
		md, err := metadataOf(m.file, m.parsed)
		if err != nil {
			b.Fatal(err)
		}
		if md == nil || !md.validates || !md.AppliesTo("Deployment", input.OpCreate) {
			continue
		}
		family := strings.Split(md.Package, ".")[1]
		ref := "data." + md.Package + ".violation"
		families[family] = append(families[family], ref)
		families["all"] = append(families["all"], ref)
	}
	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(modules); compiler.Failed() {
		b.Fatal(compiler.Errors)
	}
	cfg, err := config.Load("../../test/demo/config.yaml")
	if err != nil {
		b.Fatal(err)
	}
	data, err := configData(cfg)
	if err != nil {
		b.Fatal(err)
	}
	store := inmem.NewFromObject(map[string]any{"bailiff": map[string]any{"config": data}})
	in := benchDeploymentInput(b)

	names := []string{"shared"}
	for f := range families {
		names = append(names, f)
	}
	sort.Strings(names[1:])
	groups := make([][]string, len(names))
	for i, name := range names {
		for _, ref := range families[name] {
			groups[i] = append(groups[i], strings.TrimSuffix(strings.TrimPrefix(ref, "data."), ".violation"))
		}
	}
	// Compiled as the engine compiles them: constants folded, each family's violation
	// rules combined.
	compiler, paths, combined, err := compileForEval(ctx, compiler, store, modules, groups)
	if err != nil {
		b.Fatal(err)
	}
	for g, name := range names {
		exprs := []string{"n = count(data.bailiff.lib.k8s.containers)"}
		for i, ref := range families[name] {
			if paths[g] == "" || !combined[g][i] {
				exprs = append(exprs, fmt.Sprintf("p%d = %s", i, ref))
			}
		}
		if paths[g] != "" {
			exprs = append(exprs, "combined = "+paths[g])
		}
		for _, ev := range evaluators {
			options := []func(*rego.Rego){rego.Query(strings.Join(exprs, "; ")), rego.Compiler(compiler), rego.Store(store)}
			prepareCtx := ctx
			if ev == IR {
				ireval.Register()
				options = append(options, rego.Target(ireval.Target))
				prepareCtx = ireval.WithStore(ctx, store)
			}
			pq, err := rego.New(options...).PrepareForEval(prepareCtx)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s-%d/%s", name, len(families[name]), ev), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := pq.Eval(ctx, rego.EvalParsedInput(in.Value())); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchDeploymentInput is the compliant three-container Deployment of the engine
// benchmarks, with scanned images.
func benchDeploymentInput(tb testing.TB) *input.Input {
	tb.Helper()
	container := func(name, image string) map[string]any {
		return map[string]any{
			"name": name, "image": image,
			"ports": []any{map[string]any{"containerPort": 8080}},
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "250m", "memory": "256Mi"},
				"limits":   map[string]any{"memory": "512Mi"},
			},
			"securityContext": map[string]any{
				"allowPrivilegeEscalation": false,
				"readOnlyRootFilesystem":   true,
				"capabilities":             map[string]any{"drop": []any{"ALL"}},
			},
		}
	}
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "api", "namespace": "shop"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"serviceAccountName": "api", "automountServiceAccountToken": false,
			"securityContext": map[string]any{"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
			"containers": []any{
				container("api", "registry.example.com/shop/api:1.4.2"),
				container("envoy", "registry.example.com/platform/envoy:1.31.2"),
				container("metrics", "ghcr.io/acme/metrics-exporter:0.9.0"),
			},
		}}},
	}
	images := map[string]input.Image{}
	for _, ref := range input.ContainerImages(ast.MustInterfaceToValue(obj), "Deployment") {
		parts := strings.SplitN(ref, "/", 2)
		repo, tag, _ := strings.Cut(parts[1], ":")
		images[ref] = input.Image{Reference: ref, Registry: parts[0], Repository: repo, Tag: tag, Scanned: true,
			Scan: &input.ScanResult{ScannedAt: "2026-11-24T00:00:00Z", DBUpdatedAt: "2026-11-24T00:00:00Z"}}
	}
	in, err := input.New(forObject(tb, obj), input.Context{Mode: input.ModeAdmission, Cluster: input.Cluster{Name: "bench", Region: "eu-west-1"}, Images: images})
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

// BenchmarkBuild is what building a policy set costs: every kind and operation, as the
// webhook and the auditor start and reload, and the six kinds and one operation of
// `make bench-engine`'s scan.
func BenchmarkBuild(b *testing.B) {
	scan := &Restriction{Kinds: []string{"ConfigMap", "Deployment", "Pod", "Role", "RoleBinding", "Service"}, Operations: []string{input.OpCreate}}
	for _, tt := range []struct {
		name     string
		restrict *Restriction
	}{{"all", nil}, {"scan", scan}} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := New(context.Background(), Options{SkipTests: true, Restrict: tt.restrict}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
