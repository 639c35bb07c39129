package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy"
)

// TestEmbeddedLibraryLoadsAndPassesItsTests builds the shipped library the way a
// reload does: parsed, metadata checked, compiled, and every Rego test run.
func TestEmbeddedLibraryLoadsAndPassesItsTests(t *testing.T) {
	e, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	policies := e.Set().Policies()
	families := map[string]int{}
	for _, p := range policies {
		families[strings.Split(p.Package, ".")[1]]++
		if len(p.Controls) == 0 {
			t.Errorf("%s names no framework control", p.ID)
		}
	}
	for _, family := range []string{"rbac", "images", "resources", "placement", "podsecurity"} {
		if families[family] == 0 {
			t.Errorf("the library has no %s policies", family)
		}
	}
	results, err := policy.Test(context.Background(), []policy.Source{policy.Embedded()})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < len(policies) {
		t.Errorf("%d tests for %d policies: every policy needs tests", len(results), len(policies))
	}
}

// TestExampleConfigurationLoads keeps the demo configuration valid against the library.
func TestExampleConfigurationLoads(t *testing.T) {
	cfg, err := config.Load("../../test/demo/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.New(context.Background(), policy.Options{Config: cfg, SkipTests: true}); err != nil {
		t.Fatal(err)
	}
}

// deployment is a typical three-container Deployment that passes the library.
func deployment() map[string]any {
	container := func(name, image string) map[string]any {
		return map[string]any{
			"name":  name,
			"image": image,
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
	return map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": "api", "namespace": "shop", "labels": map[string]any{"app": "api"}},
		"spec": map[string]any{
			"replicas": 3,
			"selector": map[string]any{"matchLabels": map[string]any{"app": "api"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "api"}},
				"spec": map[string]any{
					"serviceAccountName":           "api",
					"automountServiceAccountToken": false,
					"securityContext": map[string]any{
						"runAsNonRoot":   true,
						"runAsUser":      10001,
						"seccompProfile": map[string]any{"type": "RuntimeDefault"},
					},
					"containers": []any{
						container("api", "registry.example.com/shop/api:1.4.2"),
						container("envoy", "registry.example.com/platform/envoy:1.31.2"),
						container("metrics", "ghcr.io/acme/metrics-exporter:0.9.0"),
					},
				},
			},
		},
	}
}

func deploymentInput(tb testing.TB, obj map[string]any) *input.Input {
	tb.Helper()
	req := input.ForObject(obj)
	images := map[string]input.Image{}
	for _, ref := range input.ContainerImages(obj, "Deployment") {
		images[ref] = input.Image{Reference: ref, Registry: "registry.example.com", Repository: "x", Tag: "1", Scanned: true,
			Scan: &input.ScanResult{ScannedAt: "2026-11-24T00:00:00Z", DBUpdatedAt: "2026-11-24T00:00:00Z"}}
	}
	in, err := input.New(req, input.Context{Mode: input.ModeAdmission, Cluster: input.Cluster{Name: "bench", Region: "eu-west-1"}, Images: images})
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

func benchEngine(b *testing.B) *policy.Engine {
	b.Helper()
	cfg, err := config.Load("../../test/demo/config.yaml")
	if err != nil {
		b.Fatal(err)
	}
	e, err := policy.New(context.Background(), policy.Options{Config: cfg, SkipTests: true})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkEvaluateDeployment is the number: a typical three-container
// Deployment against the whole library (validation), input already built.
func BenchmarkEvaluateDeployment(b *testing.B) {
	e := benchEngine(b)
	in := deploymentInput(b, deployment())
	ctx := context.Background()
	res, err := e.Evaluate(ctx, in)
	if err != nil {
		b.Fatal(err)
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

// BenchmarkAdmitDeployment is the whole per-object cost: build the input, mutate,
// validate.
func BenchmarkAdmitDeployment(b *testing.B) {
	e := benchEngine(b)
	obj := deployment()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		in := deploymentInput(b, obj)
		if _, err := e.Mutate(ctx, in); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Evaluate(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
