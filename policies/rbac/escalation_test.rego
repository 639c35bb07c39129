package bailiff.rbac.escalation_test

import data.bailiff.rbac.escalation

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "rules": rules}}}

rbac_group := "rbac.authorization.k8s.io"

test_bind_on_clusterroles_is_denied if {
	vs := escalation.violation with input as role("ClusterRole", [
		{"apiGroups": [rbac_group], "resources": ["clusterroles"], "verbs": ["get", "list"]},
		{"apiGroups": [rbac_group], "resources": ["clusterroles", "clusterrolebindings"], "verbs": ["bind", "create"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].verbs"
	v.details.grants == {"bind": ["clusterroles"]}
	contains(v.msg, "rules[1] grants bind on clusterroles (bind roles with permissions it does not hold)")
	contains(v.msg, "remove bind from the rule")
}

test_escalate_with_resource_names_is_still_denied if {
	count(escalation.violation) == 1 with input as role("Role", [{"apiGroups": [rbac_group], "resources": ["roles"], "verbs": ["escalate"], "resourceNames": ["reader"]}])
}

test_impersonate_users_and_service_accounts_is_denied if {
	some v in escalation.violation with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["users", "serviceaccounts"], "verbs": ["impersonate"]}])
	v.details.grants == {"impersonate": ["users", "serviceaccounts"]}
}

test_impersonate_user_extras_is_denied if {
	some v in escalation.violation with input as role("ClusterRole", [{"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/scopes"], "verbs": ["impersonate"]}])
	v.details.grants == {"impersonate": ["userextras"]}
}

test_star_verb_on_roles_grants_escalate_and_bind if {
	some v in escalation.violation with input as role("Role", [{"apiGroups": [rbac_group], "resources": ["roles", "rolebindings"], "verbs": ["*"]}])
	v.details.grants == {"bind": ["roles"], "escalate": ["roles"]}
	contains(v.msg, "remove bind, escalate from the rule")
}

test_star_everything_grants_all_three if {
	some v in escalation.violation with input as role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
	v.details.grants == {
		"bind": ["roles", "clusterroles"],
		"escalate": ["roles", "clusterroles"],
		"impersonate": ["users", "groups", "serviceaccounts", "uids", "userextras"],
	}
}

test_star_verb_on_ordinary_resources_is_allowed if {
	count(escalation.violation) == 0 with input as role("Role", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}])
}

test_dangerous_verb_in_the_wrong_group_grants_nothing if {
	count(escalation.violation) == 0 with input as role("ClusterRole", [
		{"apiGroups": [""], "resources": ["roles"], "verbs": ["bind"]},
		{"apiGroups": [rbac_group], "resources": ["users"], "verbs": ["impersonate"]},
	])
}

test_read_only_rbac_access_is_allowed if {
	count(escalation.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [rbac_group], "resources": ["*"], "verbs": ["get", "list", "watch"]}])
}

test_other_kinds_are_ignored if {
	count(escalation.violation) == 0 with input as role("RoleBinding", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": [rbac_group], "resources": ["clusterroles"], "verbs": ["bind", "escalate"]}])
	count(escalation.violation) == 1 with input as own
	count(escalation.violation) == 0 with input as bootstrap(own)
}
