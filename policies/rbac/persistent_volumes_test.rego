package bailiff.rbac.persistent_volumes_test

import data.bailiff.rbac.persistent_volumes as pv

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "rules": rules}}}

test_creating_persistent_volumes_is_reported if {
	vs := pv.violation with input as role("ClusterRole", [
		{"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["create"]},
		{"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get", "create"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].resources"
	contains(v.msg, "rules[1] grants create on persistentvolumes")
}

test_star_grants_create if {
	count(pv.violation) == 1 with input as role("ClusterRole", [{"apiGroups": ["*"], "resources": ["persistentvolumes"], "verbs": ["*"]}])
}

test_reading_persistent_volumes_is_allowed if {
	count(pv.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get", "list", "watch"]}])
}

test_namespaced_role_is_ignored if {
	count(pv.violation) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["create"]}])
}

test_star_resources_cover_persistent_volumes if {
	count(pv.violation) == 1 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["*"], "verbs": ["create"]}])
}

test_subresource_wildcard_does_not_cover_persistent_volumes if {
	count(pv.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["*/status"], "verbs": ["create"]}])
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["create"]}])
	count(pv.violation) == 1 with input as own
	count(pv.violation) == 0 with input as bootstrap(own)
}
