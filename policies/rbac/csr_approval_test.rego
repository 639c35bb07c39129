package bailiff.rbac.csr_approval_test

import data.bailiff.rbac.csr_approval

role(kind, rules) := {"request": {"kind": {"kind": kind}, "object": {"kind": kind, "rules": rules}}}

test_updating_approval_is_reported if {
	vs := csr_approval.violation with input as role("ClusterRole", [
		{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["create", "get"]},
		{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/approval"], "verbs": ["update"]},
	])
	count(vs) == 1
	some v in vs
	v.field == "rules[1].resources"
	contains(v.msg, "rules[1] grants update on certificatesigningrequests/approval")
}

test_wildcards_cover_approval if {
	count(csr_approval.violation) == 1 with input as role("ClusterRole", [{"apiGroups": ["*"], "resources": ["*/approval"], "verbs": ["patch"]}])
	count(csr_approval.violation) == 1 with input as role("ClusterRole", [{"apiGroups": ["certificates.k8s.io"], "resources": ["*"], "verbs": ["*"]}])
}

test_requesting_certificates_is_allowed if {
	count(csr_approval.violation) == 0 with input as role("ClusterRole", [{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["create", "update"]}])
}

test_approval_in_another_group_is_ignored if {
	count(csr_approval.violation) == 0 with input as role("ClusterRole", [{"apiGroups": [""], "resources": ["certificatesigningrequests/approval"], "verbs": ["update"]}])
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_roles_are_skipped if {
	own := role("ClusterRole", [{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/approval"], "verbs": ["update"]}])
	count(csr_approval.violation) == 1 with input as own
	count(csr_approval.violation) == 0 with input as bootstrap(own)
}
