package bailiff.rbac.pod_create_test

import data.bailiff.rbac.pod_create

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "rules": rules}}}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_creating_pods_is_reported if {
	vs := pod_create.violation with input as role("Role", [
		{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
		{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].resources"
	v.details == {"rule": 1, "verbs": ["create"]}
	contains(v.msg, "rules[1] grants create on pods, so its holder can start pods that run as any service account")
}

test_wildcards_cover_creating_pods if {
	some v in pod_create.violation with input as role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
	contains(v.msg, `rules[0] grants * on pods (through resources "*")`)
	count(pod_create.violation) == 1 with input as role("Role", [{"apiGroups": [""], "resources": ["*"], "verbs": ["create"]}])
	count(pod_create.violation) == 1 with input as role("Role", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}])
}

test_subresources_do_not_grant_creating_pods if {
	count(pod_create.violation) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["pods/exec", "pods/eviction", "*/status"], "verbs": ["create"]}])
}

test_reading_pods_is_allowed if {
	count(pod_create.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]}])
}

test_pods_in_another_group_are_not_core_pods if {
	count(pod_create.violation) == 0 with input as role("ClusterRole", [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["create"]}])
}

test_other_kinds_are_ignored if {
	count(pod_create.violation) == 0 with input as role("RoleBinding", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}])
}

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]}])
	count(pod_create.violation) == 1 with input as own
	count(pod_create.violation) == 0 with input as bootstrap(own)
}
