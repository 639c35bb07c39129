package bailiff.rbac.webhook_configurations_test

import data.bailiff.rbac.webhook_configurations as webhooks

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "rules": rules}}}

group := "admissionregistration.k8s.io"

test_deleting_webhook_configurations_is_reported if {
	vs := webhooks.violation with input as role("ClusterRole", [
		{"apiGroups": [group], "resources": ["validatingwebhookconfigurations"], "verbs": ["get", "list"]},
		{"apiGroups": [group], "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"], "verbs": ["delete"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].resources"
	contains(v.msg, "rules[1] grants delete on mutatingwebhookconfigurations, validatingwebhookconfigurations")
}

test_admission_policies_count_too if {
	some v in webhooks.violation with input as role("ClusterRole", [{"apiGroups": [group], "resources": ["validatingadmissionpolicybindings"], "verbs": ["create"]}])
	v.details.resources == ["validatingadmissionpolicybindings"]
}

test_star_covers_every_admission_resource if {
	some v in webhooks.violation with input as role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
	count(v.details.resources) == 6
}

test_reading_webhook_configurations_is_allowed if {
	count(webhooks.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [group], "resources": ["*"], "verbs": ["get", "list", "watch"]}])
}

test_namespaced_role_is_ignored if {
	count(webhooks.violation) == 0 with input as role("Role", [{"apiGroups": [group], "resources": ["*"], "verbs": ["*"]}])
}

test_subresource_wildcard_does_not_cover_configurations if {
	count(webhooks.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [group], "resources": ["*/status"], "verbs": ["update"]}])
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": [group], "resources": ["validatingwebhookconfigurations"], "verbs": ["delete"]}])
	count(webhooks.violation) == 1 with input as own
	count(webhooks.violation) == 0 with input as bootstrap(own)
}
