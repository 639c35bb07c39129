package bailiff.rbac.secrets_read_test

import data.bailiff.rbac.secrets_read

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "rules": rules}}}

test_cluster_role_listing_secrets_is_denied if {
	vs := secrets_read.violation with input as role("ClusterRole", [
		{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
		{"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["list", "watch", "create"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].resources"
	v.details.verbs == ["list", "watch"]
	contains(v.msg, "rules[1] grants list, watch on secrets")
	contains(v.msg, "read every Secret in every namespace")
}

test_wildcards_cover_secrets if {
	count(secrets_read.violation) == 1 with input as role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
	count(secrets_read.violation) == 1 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}])
}

test_resource_names_are_reported_but_named if {
	some v in secrets_read.violation with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["tls"]}])
	contains(v.msg, "the Secrets named tls in every namespace")
}

test_writing_secrets_without_reading_is_allowed if {
	count(secrets_read.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]}])
}

test_secrets_in_another_group_are_not_core_secrets if {
	count(secrets_read.violation) == 0 with input as role("ClusterRole", [{"apiGroups": ["example.io"], "resources": ["secrets"], "verbs": ["get"]}])
}

test_namespaced_role_is_not_judged_here if {
	count(secrets_read.violation) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}])
}

test_subresource_wildcard_does_not_cover_secrets if {
	count(secrets_read.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["*/status"], "verbs": ["get"]}])
}

test_message_names_the_wildcard_that_grants_secrets if {
	some v in secrets_read.violation with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["*"], "verbs": ["list"]}])
	contains(v.msg, `rules[0] grants list on secrets (through resources "*"), so`)
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}])
	count(secrets_read.violation) == 1 with input as own
	count(secrets_read.violation) == 0 with input as bootstrap(own)
}
