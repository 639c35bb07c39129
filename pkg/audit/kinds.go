package audit

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy"
)

// Target is one kind of object the auditor watches and evaluates.
type Target struct {
	GVK        schema.GroupVersionKind
	Resource   string // the plural, e.g. "deployments"
	Namespaced bool
}

// policyKinds returns the Kind names the policies evaluate at CREATE, which
// is how the auditor presents every object, with the groups workloads and
// rbac expanded; all is true when a policy applies to every kind ("*").
func policyKinds(policies []policy.Metadata) (kinds map[string]bool, all bool) {
	kinds = map[string]bool{}
	for _, p := range policies {
		if !slices.Contains(p.Operations, input.OpCreate) {
			continue
		}
		for _, k := range p.Kinds {
			switch k {
			case "*":
				all = true
			case "workloads":
				for _, w := range input.WorkloadKinds() {
					kinds[w] = true
				}
			case "rbac":
				for _, r := range input.RBACKinds() {
					kinds[r] = true
				}
			default:
				kinds[k] = true
			}
		}
	}
	return kinds, all
}

// unwatchedGroupResources are never watched for a "*" policy: records of
// what happened rather than configuration (events, leases, endpoints), which
// change constantly and hold nothing a policy could ask to be fixed, and
// Bailiff's own reports.
var unwatchedGroupResources = map[string]bool{
	"events": true, "events.k8s.io/events": true,
	"coordination.k8s.io/leases": true,
	"endpoints":                  true, "discovery.k8s.io/endpointslices": true,
	"componentstatuses": true, "bindings": true,
	"wgpolicyk8s.io/policyreports": true, "wgpolicyk8s.io/clusterpolicyreports": true,
}

// resolveTargets maps Kind names to the resources the API server serves
// them as, from discovery (one preferred version per group). A Kind served
// by several groups is watched in each, as admission sees each. Resources
// that cannot be listed and watched, and subresources, are left out.
func resolveTargets(kinds map[string]bool, all bool, lists []*metav1.APIResourceList) []Target {
	var out []Target
	seen := map[schema.GroupKind]bool{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") {
				continue
			}
			gr := r.Name
			if gv.Group != "" {
				gr = gv.Group + "/" + r.Name
			}
			if !kinds[r.Kind] && (!all || unwatchedGroupResources[gr]) {
				continue
			}
			gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
			if seen[gk] {
				continue
			}
			seen[gk] = true
			out = append(out, Target{GVK: gv.WithKind(r.Kind), Resource: r.Name, Namespaced: r.Namespaced})
		}
	}
	slices.SortFunc(out, func(a, b Target) int {
		return strings.Compare(a.GVK.Group+"/"+a.GVK.Kind, b.GVK.Group+"/"+b.GVK.Kind)
	})
	return out
}
