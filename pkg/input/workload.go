package input

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
func PodSpec(obj map[string]any, kind string) map[string]any {
	keys, ok := PodSpecKeys(kind)
	if !ok {
		return nil
	}
	cur := obj
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

// ContainerImages returns every image reference the object's containers use, of every
// container type, each once, in order of appearance.
func ContainerImages(obj map[string]any, kind string) []string {
	spec := PodSpec(obj, kind)
	if spec == nil {
		return nil
	}
	var refs []string
	seen := map[string]bool{}
	for _, typ := range ContainerTypes() {
		list, _ := spec[typ].([]any)
		for _, c := range list {
			container, _ := c.(map[string]any)
			ref, ok := container["image"].(string)
			if ok && !seen[ref] {
				seen[ref] = true
				refs = append(refs, ref)
			}
		}
	}
	return refs
}
