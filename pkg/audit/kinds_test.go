package audit

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bailiff/bailiff/pkg/policy"
)

func TestPolicyKindsExpandGroupsAndSkipPoliciesNotRunAtCreate(t *testing.T) {
	kinds, all := policyKinds([]policy.Metadata{
		{ID: "A", Kinds: []string{"workloads"}, Operations: []string{"CREATE", "UPDATE"}},
		{ID: "B", Kinds: []string{"rbac", "PersistentVolumeClaim"}, Operations: []string{"CREATE"}},
		{ID: "C", Kinds: []string{"Secret"}, Operations: []string{"DELETE"}},
	})
	for _, k := range []string{"Pod", "Deployment", "CronJob", "Role", "ClusterRoleBinding", "PersistentVolumeClaim"} {
		if !kinds[k] {
			t.Errorf("%s is missing from %v", k, kinds)
		}
	}
	if kinds["Secret"] || all {
		t.Errorf("a DELETE-only policy adds nothing: %v, all=%v", kinds, all)
	}
}

var discovered = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: []string{"list", "watch", "get"}},
		{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: []string{"get"}},
		{Name: "events", Kind: "Event", Namespaced: true, Verbs: []string{"list", "watch"}},
		{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: []string{"list", "watch"}},
		{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: []string{"create"}},
	}},
	{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: []string{"list", "watch"}},
	}},
	{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: []string{"list", "watch"}},
	}},
	{GroupVersion: "rbac.authorization.k8s.io/v1", APIResources: []metav1.APIResource{
		{Name: "clusterroles", Kind: "ClusterRole", Namespaced: false, Verbs: []string{"list", "watch"}},
	}},
}

func TestResolveTargets(t *testing.T) {
	tests := []struct {
		name  string
		kinds map[string]bool
		all   bool
		want  string
	}{
		{"named kinds map to every group serving them, subresources left out",
			map[string]bool{"Pod": true, "Deployment": true, "ClusterRole": true}, false,
			"[/v1, Kind=Pod apps/v1, Kind=Deployment example.com/v1, Kind=Deployment rbac.authorization.k8s.io/v1, Kind=ClusterRole]"},
		{"a kind the server does not serve is no target", map[string]bool{"Widget": true}, false, "[]"},
		{"* watches everything listable except records such as events",
			nil, true,
			"[/v1, Kind=ConfigMap /v1, Kind=Pod apps/v1, Kind=Deployment example.com/v1, Kind=Deployment rbac.authorization.k8s.io/v1, Kind=ClusterRole]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gvks []string
			for _, target := range resolveTargets(tt.kinds, tt.all, discovered) {
				gvks = append(gvks, target.GVK.String())
			}
			if got := fmt.Sprint(gvks); got != tt.want && !(tt.want == "[]" && len(gvks) == 0) {
				t.Fatalf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}
