package bailiff.rbac.pod_exec_test

import data.bailiff.rbac.pod_exec

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "rules": rules}}}

test_create_on_exec_is_denied if {
	vs := pod_exec.violation with input as role("Role", [
		{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
		{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].resources"
	contains(v.msg, "rules[1] grants create on pods/exec")
}

test_get_on_attach_is_denied if {
	some v in pod_exec.violation with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["get"]}])
	v.details == {"rule": 0, "verbs": ["get"], "resources": ["pods/attach"]}
}

test_read_only_star_resources_grant_exec_over_websocket if {
	some v in pod_exec.violation with input as role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}])
	v.details.resources == ["pods/exec", "pods/attach"]
	v.details.verbs == ["get"]
}

test_subresource_wildcard_covers_exec if {
	some v in pod_exec.violation with input as role("Role", [{"apiGroups": [""], "resources": ["*/exec"], "verbs": ["*"]}])
	v.details.resources == ["pods/exec"]
}

test_logs_and_port_forward_are_allowed if {
	count(pod_exec.violation) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["pods/log", "pods/portforward"], "verbs": ["get", "create"]}])
}

test_other_verbs_on_exec_are_allowed if {
	count(pod_exec.violation) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["list", "watch"]}])
}

test_other_kinds_are_ignored if {
	count(pod_exec.violation) == 0 with input as role("RoleBinding", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}])
}

test_message_names_the_wildcard_that_grants_exec if {
	some v in pod_exec.violation with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["*", "pods"], "verbs": ["get"]}])
	contains(v.msg, `rules[0] grants get on pods/exec, pods/attach (through resources "*"), which`)
	some w in pod_exec.violation with input as role("Role", [{"apiGroups": [""], "resources": ["pods/exec", "*/attach"], "verbs": ["create"]}])
	contains(w.msg, `rules[0] grants create on pods/exec, pods/attach (through resources "*/attach"), which`)
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": [""], "resources": ["pods/exec", "pods/attach"], "verbs": ["create"]}])
	count(pod_exec.violation) == 1 with input as own
	count(pod_exec.violation) == 0 with input as bootstrap(own)
}
