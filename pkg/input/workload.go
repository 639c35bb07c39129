package input

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// PodSpecKeys returns the path, as keys, from an object of a pod-bearing kind to its pod
// spec, and false for every other kind. It mirrors pod_spec_keys in
// policies/lib/k8s.rego; a test keeps the two in agreement.
func PodSpecKeys(kind string) ([]string, bool) {
	switch kind {
	case "Pod":
		return []string{"spec"}, true
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController":
		return []string{"spec", "template", "spec"}, true
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}, true
	case "PodTemplate":
		return []string{"template", "spec"}, true
	}
	return nil, false
}

// WorkloadKinds lists the pod-bearing kinds.
func WorkloadKinds() []string {
	return []string{"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController", "PodTemplate"}
}

// RBACKinds lists the RBAC kinds.
func RBACKinds() []string {
	return []string{"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
}

// ContainerTypes are the fields of a pod spec that hold containers.
func ContainerTypes() []string {
	return []string{"containers", "initContainers", "ephemeralContainers"}
}

// PodSpec returns the pod spec of an object of a pod-bearing kind, or nil.
func PodSpec(obj ast.Value, kind string) ast.Object {
	keys, ok := PodSpecKeys(kind)
	if !ok {
		return nil
	}
	spec, _ := Lookup(obj, keys...).(ast.Object)
	return spec
}

// ContainerImages returns every image reference the object's containers use, of every
// container type, each once, in order of appearance.
func ContainerImages(obj ast.Value, kind string) []string {
	spec := PodSpec(obj, kind)
	if spec == nil {
		return nil
	}
	var refs []string
	for _, typ := range ContainerTypes() {
		list := LookupArray(spec, typ)
		if list == nil {
			continue
		}
		for i := range list.Len() {
			ref, ok := Lookup(list.Elem(i).Value, "image").(ast.String)
			if ok && !slices.Contains(refs, string(ref)) {
				refs = append(refs, string(ref))
			}
		}
	}
	return refs
}
