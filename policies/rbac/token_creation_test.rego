package bailiff.rbac.token_creation_test

import data.bailiff.rbac.token_creation

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "rules": rules}}}

test_creating_tokens_is_reported if {
	vs := token_creation.violation with input as role("Role", [
		{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "create"]},
		{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].resources"
	contains(v.msg, "rules[1] grants create on serviceaccounts/token, so its holder can mint tokens for every service account it can reach")
}

test_resource_names_are_named if {
	some v in token_creation.violation with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"], "resourceNames": ["builder"]}])
	contains(v.msg, "tokens for the service accounts named builder")
}

test_wildcards_cover_tokens if {
	count(token_creation.violation) == 1 with input as role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*/token"], "verbs": ["*"]}])
}

test_creating_service_accounts_is_allowed if {
	count(token_creation.violation) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["create"]}])
}

test_star_resources_cover_tokens if {
	count(token_creation.violation) == 1 with input as role("Role", [{"apiGroups": [""], "resources": ["*"], "verbs": ["create"]}])
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}])
	count(token_creation.violation) == 1 with input as own
	count(token_creation.violation) == 0 with input as bootstrap(own)
}
