package bailiff.lib.rbac_test

import data.bailiff.lib.rbac

bootstrap_label := {"kubernetes.io/bootstrapping": "rbac-defaults"}

review(kind, labels) := {"request": {
	"kind": {"kind": kind},
	"object": {"kind": kind, "metadata": {"name": "edit", "labels": labels}},
}}

test_labelled_rbac_objects_are_bootstrap_objects if {
	every kind in {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"} {
		rbac.is_bootstrap with input as review(kind, bootstrap_label)
	}
}

test_unlabelled_rbac_objects_are_not_bootstrap_objects if {
	not rbac.is_bootstrap with input as review("ClusterRole", {})
	not rbac.is_bootstrap with input as review("ClusterRole", {"kubernetes.io/bootstrapping": "other"})
	not rbac.is_bootstrap with input as {"request": {"kind": {"kind": "ClusterRole"}, "object": {"kind": "ClusterRole"}}}
}

test_other_kinds_are_never_bootstrap_objects if {
	not rbac.is_bootstrap with input as review("ServiceAccount", bootstrap_label)
	not rbac.is_bootstrap with input as review("Deployment", bootstrap_label)
}

test_verbs_granted_lists_matching_verbs_in_rule_order if {
	rbac.verbs_granted({"verbs": ["list", "update", "get"]}, ["get", "update"]) == ["update", "get"]
	rbac.verbs_granted({"verbs": ["get", "*"]}, ["create"]) == ["*"]
	rbac.verbs_granted({"verbs": ["get", "list"]}, ["create"]) == []
	rbac.verbs_granted({}, ["get"]) == []
}

test_group_granted_by_name_or_star if {
	rbac.group_granted({"apiGroups": [""]}, "")
	rbac.group_granted({"apiGroups": ["apps", "*"]}, "certificates.k8s.io")
	not rbac.group_granted({"apiGroups": ["apps"]}, "")
	not rbac.group_granted({"apiGroups": [""]}, "apps")
	not rbac.group_granted({}, "")
}

test_resources_granted_by_name_star_or_subresource_wildcard if {
	wanted := ["pods", "pods/exec", "pods/attach"]
	rbac.resources_granted({"resources": ["pods", "pods/log"]}, wanted) == ["pods"]
	rbac.resources_granted({"resources": ["*"]}, wanted) == wanted
	rbac.resources_granted({"resources": ["*/exec"]}, wanted) == ["pods/exec"]
	rbac.resources_granted({"resources": ["*/status"]}, wanted) == []
	rbac.resources_granted({}, wanted) == []
}

test_resource_granted_checks_one_resource_against_a_list if {
	rbac.resource_granted(["*"], "secrets")
	rbac.resource_granted(["configmaps", "secrets"], "secrets")
	rbac.resource_granted(["*/proxy"], "nodes/proxy")
	not rbac.resource_granted(["*/proxy"], "nodes")
	not rbac.resource_granted(["nodes"], "nodes/proxy")
	not rbac.resource_granted(["pods/*"], "pods/exec")
	not rbac.resource_granted([], "pods")
}

test_through_names_the_wildcards_a_resource_is_reached_by if {
	rbac.through({"resources": ["*", "configmaps"]}, ["secrets"]) == ` (through resources "*")`
	rbac.through({"resources": ["*", "*/exec"]}, ["pods/exec", "pods/attach"]) == ` (through resources "*", "*/exec")`
}

test_through_is_empty_when_every_resource_is_named if {
	rbac.through({"resources": ["secrets", "*"]}, ["secrets"]) == ""
	rbac.through({"resources": ["pods/exec", "pods/attach"]}, ["pods/exec", "pods/attach"]) == ""
}

test_the_label_on_a_name_kubernetes_does_not_bootstrap_is_not_trusted if {
	not rbac.is_bootstrap with input as {"request": {
		"kind": {"kind": "ClusterRoleBinding"},
		"object": {"metadata": {"name": "my-admins", "labels": bootstrap_label}},
	}}
}

# by is a labelled system: binding written at admission by user.
by(user) := {
	"request": {
		"kind": {"kind": "ClusterRoleBinding"},
		"userInfo": {"username": user},
		"object": {"metadata": {"name": "system:evil", "labels": bootstrap_label}},
	},
	"context": {"mode": "admission"},
}

test_at_admission_only_the_api_server_writes_bootstrap_objects if {
	rbac.is_bootstrap with input as by("system:apiserver")
	not rbac.is_bootstrap with input as by("mallory")
}

test_in_audit_the_label_and_name_suffice if {
	rbac.is_bootstrap with input as {
		"request": {"kind": {"kind": "ClusterRole"}, "object": {"metadata": {"name": "system:aggregate-to-edit", "labels": bootstrap_label}}},
		"context": {"mode": "audit"},
	}
}
