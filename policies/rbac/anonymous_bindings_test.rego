package bailiff.rbac.anonymous_bindings_test

import data.bailiff.rbac.anonymous_bindings as anon

binding(kind, role_kind, role, subjects) := {"request": {
	"kind": {"kind": kind},
	"object": {"kind": kind, "roleRef": {"kind": role_kind, "name": role}, "subjects": subjects},
}}

group(name) := {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}

test_binding_a_role_to_anonymous_user_is_denied if {
	vs := anon.violation with input as binding("ClusterRoleBinding", "ClusterRole", "view", [{"kind": "User", "name": "system:anonymous"}])
	count(vs) == 1
	some v in vs
	v.field == "subjects[0]"
	contains(v.msg, `binding ClusterRole "view" to User "system:anonymous" grants it to every request made without credentials`)
}

test_every_special_subject_is_denied_in_a_role_binding if {
	vs := anon.violation with input as binding("RoleBinding", "Role", "reader", [
		group("system:authenticated"),
		{"kind": "ServiceAccount", "name": "system:anonymous", "namespace": "web"},
		group("team-a"),
		group("system:unauthenticated"),
		{"kind": "User", "name": "system:authenticated"},
	])
	{v.field | some v in vs} == {"subjects[0]", "subjects[3]", "subjects[4]"}
}

test_kubernetes_default_bindings_are_allowed if {
	count(anon.violation) == 0 with input as binding("ClusterRoleBinding", "ClusterRole", "system:public-info-viewer", [group("system:authenticated"), group("system:unauthenticated")])
	count(anon.violation) == 0 with input as binding("ClusterRoleBinding", "ClusterRole", "system:discovery", [group("system:authenticated")])
	count(anon.violation) == 0 with input as binding("ClusterRoleBinding", "ClusterRole", "system:basic-user", [group("system:authenticated")])
}

test_discovery_for_unauthenticated_is_denied if {
	some v in anon.violation with input as binding("ClusterRoleBinding", "ClusterRole", "system:discovery", [group("system:unauthenticated")])
	v.field == "subjects[0]"
}

test_default_role_name_as_a_namespaced_role_is_denied if {
	count(anon.violation) == 1 with input as binding("RoleBinding", "Role", "system:basic-user", [group("system:authenticated")])
	count(anon.violation) == 1 with input as binding("RoleBinding", "ClusterRole", "system:basic-user", [group("system:authenticated")])
}

test_named_subjects_are_allowed if {
	count(anon.violation) == 0 with input as binding("ClusterRoleBinding", "ClusterRole", "view", [group("auditors"), {"kind": "User", "name": "alice"}])
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_bindings_are_skipped if {
	own := binding("ClusterRoleBinding", "ClusterRole", "system:discovery", [group("system:unauthenticated")])
	count(anon.violation) == 1 with input as own
	count(anon.violation) == 0 with input as bootstrap(own)
}
