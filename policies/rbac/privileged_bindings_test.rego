package bailiff.rbac.privileged_bindings_test

import data.bailiff.rbac.privileged_bindings as pb

binding(kind, namespace, role, subjects) := {"request": {
	"kind": {"kind": kind},
	"namespace": namespace,
	"object": {"kind": kind, "metadata": {"name": "b"}, "roleRef": role, "subjects": subjects},
}}

cluster_admin := {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}

cfg := {"rbac": {
	"privilegedRoles": ["cluster-admin", "admin", "edit"],
	"allowedSubjects": ["system:masters", "platform-admins", "system:serviceaccount:ops:deployer"],
}}

test_default_masters_binding_is_allowed_with_default_config if {
	count(pb.violation) == 0 with input as binding("ClusterRoleBinding", "", cluster_admin, [{"kind": "Group", "name": "system:masters"}])
}

test_unapproved_user_is_denied if {
	vs := pb.violation with input as binding("ClusterRoleBinding", "", cluster_admin, [
		{"kind": "Group", "name": "platform-admins"},
		{"kind": "User", "name": "alice@example.com"},
	])
		with data.bailiff.config as cfg
	count(vs) == 1
	some v in vs
	v.field == "subjects[1]"
	contains(v.msg, `subjects[1]: User "alice@example.com" may not hold the privileged ClusterRole "cluster-admin"`)
	contains(v.msg, "allowed now: system:masters, platform-admins, system:serviceaccount:ops:deployer")
}

test_service_account_namespace_defaults_to_the_binding if {
	edit := {"kind": "ClusterRole", "name": "edit"}
	sa := [{"kind": "ServiceAccount", "name": "deployer"}]
	count(pb.violation) == 0 with input as binding("RoleBinding", "ops", edit, sa) with data.bailiff.config as cfg
	some v in pb.violation with input as binding("RoleBinding", "web", edit, sa) with data.bailiff.config as cfg
	v.details.subject == "system:serviceaccount:web:deployer"
}

test_service_account_namespace_from_metadata_when_request_has_none if {
	inp := {"request": {
		"kind": {"kind": "RoleBinding"},
		"object": {
			"metadata": {"name": "b", "namespace": "ops"},
			"roleRef": {"kind": "ClusterRole", "name": "admin"},
			"subjects": [{"kind": "ServiceAccount", "name": "deployer"}],
		},
	}}
	count(pb.violation) == 0 with input as inp with data.bailiff.config as cfg
}

test_explicit_service_account_namespace_wins if {
	some v in pb.violation with input as binding("ClusterRoleBinding", "", cluster_admin, [{"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}])
		with data.bailiff.config as cfg
	v.details.subject == "system:serviceaccount:ci:deployer"
}

test_role_named_like_a_privileged_role_counts if {
	count(pb.violation) == 1 with input as binding("RoleBinding", "web", {"kind": "Role", "name": "admin"}, [{"kind": "User", "name": "bob"}])
		with data.bailiff.config as cfg
}

test_unprivileged_role_is_allowed if {
	count(pb.violation) == 0 with input as binding("RoleBinding", "web", {"kind": "ClusterRole", "name": "view"}, [{"kind": "User", "name": "bob"}])
		with data.bailiff.config as cfg
}

test_empty_allow_list_denies_every_subject if {
	some v in pb.violation with input as binding("ClusterRoleBinding", "", cluster_admin, [{"kind": "Group", "name": "system:masters"}])
		with data.bailiff.config.rbac.allowedSubjects as []
	contains(v.msg, "allowed now: none")
}

test_other_kinds_are_ignored if {
	count(pb.violation) == 0 with input as binding("ConfigMap", "web", cluster_admin, [{"kind": "User", "name": "bob"}])
}

# bootstrap labels an input's object as Kubernetes' own, as the API server does.
bootstrap(inp) := object.union(inp, {"request": {"object": {"metadata": {"name": "system:bootstrap-test", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}}})

test_kubernetes_bootstrap_bindings_are_skipped if {
	own := binding("ClusterRoleBinding", "", cluster_admin, [{"kind": "User", "name": "kubeadm:cluster-admins"}])
	count(pb.violation) == 1 with input as own
	count(pb.violation) == 0 with input as bootstrap(own)
}

test_kind_qualified_group_does_not_admit_a_user_of_that_name if {
	qualified := {"rbac": {"privilegedRoles": ["cluster-admin"], "allowedSubjects": ["Group:platform-admins"]}}
	count(pb.violation) == 0 with input as binding("ClusterRoleBinding", "", cluster_admin, [{"kind": "Group", "name": "platform-admins"}])
		with data.bailiff.config as qualified
	some v in pb.violation with input as binding("ClusterRoleBinding", "", cluster_admin, [{"kind": "User", "name": "platform-admins"}])
		with data.bailiff.config as qualified
	contains(v.msg, `User "platform-admins" may not hold`)
}

test_kind_qualified_user_does_not_admit_a_group_of_that_name if {
	count(pb.violation) == 0 with input as binding("ClusterRoleBinding", "", cluster_admin, [{"kind": "User", "name": "alice"}])
		with data.bailiff.config.rbac.allowedSubjects as ["User:alice"]
	count(pb.violation) == 1 with input as binding("ClusterRoleBinding", "", cluster_admin, [{"kind": "Group", "name": "alice"}])
		with data.bailiff.config.rbac.allowedSubjects as ["User:alice"]
}

test_kind_qualified_service_account_names_its_namespace if {
	edit := {"kind": "ClusterRole", "name": "edit"}
	sa := [{"kind": "ServiceAccount", "name": "deployer"}]
	count(pb.violation) == 0 with input as binding("RoleBinding", "ops", edit, sa)
		with data.bailiff.config.rbac.allowedSubjects as ["ServiceAccount:ops:deployer"]
	count(pb.violation) == 1 with input as binding("RoleBinding", "web", edit, sa)
		with data.bailiff.config.rbac.allowedSubjects as ["ServiceAccount:ops:deployer"]
	count(pb.violation) == 1 with input as binding("RoleBinding", "ops", edit, [{"kind": "User", "name": "system:serviceaccount:ops:deployer"}])
		with data.bailiff.config.rbac.allowedSubjects as ["ServiceAccount:ops:deployer"]
}

test_bare_name_still_matches_any_kind if {
	count(pb.violation) == 0 with input as binding("ClusterRoleBinding", "", cluster_admin, [
		{"kind": "User", "name": "platform-admins"},
		{"kind": "Group", "name": "platform-admins"},
		{"kind": "User", "name": "system:serviceaccount:ops:deployer"},
		{"kind": "ServiceAccount", "name": "deployer", "namespace": "ops"},
	])
		with data.bailiff.config as cfg
}

test_kind_qualified_entry_is_not_also_a_bare_name if {
	count(pb.violation) == 1 with input as binding("ClusterRoleBinding", "", cluster_admin, [{"kind": "Group", "name": "User:alice"}])
		with data.bailiff.config.rbac.allowedSubjects as ["User:alice"]
}

test_message_suggests_the_kind_qualified_entry if {
	some v in pb.violation with input as binding("RoleBinding", "web", cluster_admin, [{"kind": "ServiceAccount", "name": "ci"}])
		with data.bailiff.config as cfg
	contains(v.msg, `ask for "ServiceAccount:web:ci" to be added to rbac.allowedSubjects`)
	v.details.subject == "system:serviceaccount:web:ci"
}
