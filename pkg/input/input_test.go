package input

import (
	"context"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/bailiff/bailiff/policies"
)

func deployment() map[string]any {
	return map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": "web", "namespace": "shop"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"initContainers": []any{map[string]any{"name": "setup", "image": "busybox:1.36"}},
			"containers": []any{
				map[string]any{"name": "web", "image": "nginx:1.27"},
				map[string]any{"name": "proxy", "image": "nginx:1.27"},
			},
		}}},
	}
}

func TestForObjectReadsKindAndName(t *testing.T) {
	req := forObject(t, deployment())
	if req.Kind != (GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}) {
		t.Errorf("kind = %+v", req.Kind)
	}
	if req.Namespace != "shop" || req.Name != "web" || req.Operation != OpCreate {
		t.Errorf("request = %+v", req)
	}
	core := forObject(t, map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"generateName": "job-"}})
	if core.Kind.Group != "" || core.Kind.Version != "v1" || core.Name != "job-" {
		t.Errorf("core request = %+v", core)
	}
}

func TestContainerImagesCoversEveryTypeOnce(t *testing.T) {
	got := ContainerImages(forObject(t, deployment()).Object, "Deployment")
	want := []string{"nginx:1.27", "busybox:1.36"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if ContainerImages(forObject(t, map[string]any{"kind": "Role"}).Object, "Role") != nil {
		t.Error("a Role has no images")
	}
}

func TestNewBuildsTheContractShape(t *testing.T) {
	in, err := New(forObject(t, deployment()), Context{
		Mode:      ModeScan,
		Cluster:   Cluster{Name: "c1", Region: "eu-west-1"},
		Namespace: &Namespace{Name: "shop", Labels: map[string]string{"team": "a"}},
		Images: map[string]Image{"nginx:1.27": {Reference: "nginx:1.27", Registry: "docker.io", Repository: "library/nginx", Tag: "1.27",
			Scanned: true, Scan: &ScanResult{Critical: 1, Vulnerabilities: []Vulnerability{{ID: "CVE-1", Severity: "critical"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for query, want := range map[string]any{
		`input.request.kind.kind`:                                       "Deployment",
		`input.request.object.metadata.name`:                            "web",
		`input.request.oldObject`:                                       nil,
		`input.context.mode`:                                            "scan",
		`input.context.cluster.region`:                                  "eu-west-1",
		`input.context.namespace.labels.team`:                           "a",
		`input.context.images["nginx:1.27"].registry`:                   "docker.io",
		`input.context.images["nginx:1.27"].scan.vulnerabilities[0].id`: "CVE-1",
	} {
		rs, err := rego.New(rego.Query(query), rego.ParsedInput(in.Value())).Eval(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if len(rs) != 1 || rs[0].Expressions[0].Value != want {
			t.Errorf("%s = %v, want %v", query, rs, want)
		}
	}
}

// TestPodSpecKeysAgreeWithRego keeps the Go table and policies/lib/k8s.rego in step.
func TestPodSpecKeysAgreeWithRego(t *testing.T) {
	src, err := policies.FS.ReadFile("lib/k8s.rego")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rego.New(rego.Query("data.bailiff.lib.k8s.pod_spec_keys"), rego.Module("k8s.rego", string(src))).Eval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	table := rs[0].Expressions[0].Value.(map[string]any)
	if len(table) != len(WorkloadKinds()) {
		t.Errorf("Rego knows %d workload kinds, Go %d", len(table), len(WorkloadKinds()))
	}
	for _, kind := range WorkloadKinds() {
		keys, _ := PodSpecKeys(kind)
		var regoKeys []string
		for _, k := range table[kind].([]any) {
			regoKeys = append(regoKeys, k.(string))
		}
		if !slices.Equal(keys, regoKeys) {
			t.Errorf("%s: Go %v, Rego %v", kind, keys, regoKeys)
		}
	}
}

func forObject(t *testing.T, obj map[string]any) Request {
	t.Helper()
	req, err := ForObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
