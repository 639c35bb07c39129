package bailiff.rbac.node_proxy_test

import data.bailiff.rbac.node_proxy

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "rules": rules}}}

test_get_on_node_proxy_is_denied if {
	vs := node_proxy.violation with input as role("ClusterRole", [
		{"apiGroups": [""], "resources": ["nodes", "nodes/metrics"], "verbs": ["get", "list"]},
		{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].resources"
	contains(v.msg, "rules[1] grants get on nodes/proxy")
}

test_wildcards_cover_node_proxy if {
	count(node_proxy.violation) == 1 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["*/proxy"], "verbs": ["create"]}])
	count(node_proxy.violation) == 1 with input as role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
}

test_monitoring_subresources_are_allowed if {
	count(node_proxy.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["nodes/metrics", "nodes/stats", "nodes/log"], "verbs": ["get"]}])
}

test_other_verbs_on_node_proxy_are_allowed if {
	count(node_proxy.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["list"]}])
}

test_namespaced_role_cannot_grant_nodes if {
	count(node_proxy.violation) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}])
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}])
	count(node_proxy.violation) == 1 with input as own
	count(node_proxy.violation) == 0 with input as bootstrap(own)
}
