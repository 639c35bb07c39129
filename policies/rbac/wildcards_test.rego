package bailiff.rbac.wildcards_test

import data.bailiff.rbac.wildcards

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "metadata": {"name": "r"}, "rules": rules}}}

test_explicit_rule_is_allowed if {
	count(wildcards.violation) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["configmaps", "pods/log"], "verbs": ["get", "list"]}])
}

test_wildcard_verbs_are_denied_with_the_field if {
	vs := wildcards.violation with input as role("Role", [
		{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
		{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].verbs"
	contains(v.msg, `wildcard "*" in verbs`)
	contains(v.msg, "list the verbs it needs")
}

test_one_violation_per_rule_and_field if {
	vs := wildcards.violation with input as role("ClusterRole", [
		{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"], "nonResourceURLs": ["*"]},
		{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]},
	])
	{v.field | some v in vs} == {"rules[0].verbs", "rules[0].resources", "rules[0].apiGroups", "rules[1].resources"}
}

test_subresource_wildcard_counts if {
	some v in wildcards.violation with input as role("ClusterRole", [{"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}])
	v.field == "rules[0].resources"
	v.details.wildcards == ["*/scale"]
}

test_other_kinds_are_ignored if {
	count(wildcards.violation) == 0 with input as role("ConfigMap", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
}

test_role_without_rules_is_allowed if {
	count(wildcards.violation) == 0 with input as {"request": {"kind": {"kind": "ClusterRole"}, "object": {"aggregationRule": {}}}}
}

test_malformed_entries_are_skipped if {
	vs := wildcards.violation with input as role("Role", [{"apiGroups": [""], "resources": [5, "*"], "verbs": [null, "get"]}])
	{v.field | some v in vs} == {"rules[0].resources"}
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
	count(wildcards.violation) == 3 with input as own
	count(wildcards.violation) == 0 with input as bootstrap(own)
}
