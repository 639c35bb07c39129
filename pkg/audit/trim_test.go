package audit

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func pod(annotations map[string]any, status string, rv string) *unstructured.Unstructured {
	meta := map[string]any{"name": "p", "namespace": "shop", "resourceVersion": rv,
		"managedFields": []any{map[string]any{"manager": "kubectl"}}}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": meta,
		"spec":   map[string]any{"containers": []any{map[string]any{"name": "a", "image": "x:1"}}},
		"status": map[string]any{"phase": status},
	}}
}

func TestTrimDropsWhatPoliciesNeverJudge(t *testing.T) {
	out, err := Trim(pod(map[string]any{lastApplied: "{...}", "team": "a"}, "Running", "1"))
	if err != nil {
		t.Fatal(err)
	}
	u := out.(*unstructured.Unstructured)
	if _, ok := u.Object["status"]; ok {
		t.Error("status kept")
	}
	if u.GetManagedFields() != nil {
		t.Error("managedFields kept")
	}
	if ann := u.GetAnnotations(); ann[lastApplied] != "" || ann["team"] != "a" {
		t.Errorf("annotations %v: want only the last-applied one dropped", ann)
	}
	if out, _ := Trim("tombstone"); out != "tombstone" {
		t.Error("a non-object must pass unchanged")
	}
	u2, _ := Trim(pod(map[string]any{lastApplied: "{}"}, "", "1"))
	if _, ok := u2.(*unstructured.Unstructured).Object["metadata"].(map[string]any)["annotations"]; ok {
		t.Error("an annotation map left empty should go")
	}
}

func TestAStatusOnlyUpdateIsNoChange(t *testing.T) {
	a, _ := Trim(pod(nil, "Pending", "1"))
	b, _ := Trim(pod(nil, "Running", "2"))
	if !sameContent(a.(*unstructured.Unstructured), b.(*unstructured.Unstructured)) {
		t.Fatal("a status and resourceVersion change should not count")
	}
	c := pod(nil, "Running", "3")
	c.Object["spec"].(map[string]any)["hostNetwork"] = true
	if sameContent(b.(*unstructured.Unstructured), c) {
		t.Fatal("a spec change must count")
	}
}
