# METADATA
# title: Privileged roles are bound only to approved subjects
# description: >-
#   A RoleBinding or ClusterRoleBinding whose roleRef names a role in
#   rbac.privilegedRoles (cluster-admin, admin, edit by default; a ClusterRole or a Role
#   of that name) may bind it only to subjects in rbac.allowedSubjects. An entry
#   "User:<name>", "Group:<name>" or "ServiceAccount:<namespace>:<name>" matches only a
#   subject of that kind; a bare entry matches users and groups by name and service
#   accounts as "system:serviceaccount:<namespace>:<name>", whatever the kind. A service
#   account's namespace defaults to the binding's own. Each other subject is a
#   violation. Kubernetes' own bootstrap bindings (labelled kubernetes.io/bootstrapping:
#   rbac-defaults) are skipped. Bind a narrower role instead, or have the subject added
#   to rbac.allowedSubjects.
# scope: package
# custom:
#   id: BLF-RBAC-002
#   severity: critical
#   enforcement: deny
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: [CIS-5.1.1, NSA-RBAC]
package bailiff.rbac.privileged_bindings

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

privileged := data.bailiff.config.rbac.privilegedRoles

allowed := data.bailiff.config.rbac.allowedSubjects

violation contains v if {
	k8s.kind in {"RoleBinding", "ClusterRoleBinding"}
	not rbac.is_bootstrap
	role := k8s.obj.roleRef
	role.name in privileged
	some i, subject in object.get(k8s.obj, "subjects", [])
	name := subject_name(subject)
	not allowed_subject(subject)
	v := {
		"msg": sprintf("subjects[%d]: %s %q may not hold the privileged %s %q; bind a role that grants only what it needs, or ask for %q to be added to rbac.allowedSubjects (allowed now: %s)", [
			i, subject.kind, name, object.get(role, "kind", "role"), role.name, qualified_name(subject), allowed_list,
		]),
		"field": sprintf("subjects[%d]", [i]),
		"details": {"subject": name, "kind": subject.kind, "role": role.name, "allowedSubjects": allowed},
	}
}

# The namespace a ServiceAccount subject without one lives in: the binding's own.
binding_namespace := ns if {
	ns := object.get(k8s.obj, ["metadata", "namespace"], "")
	ns != ""
} else := object.get(input.request, "namespace", "")

# allowed_subject holds when an entry of rbac.allowedSubjects names the subject: a
# kind-qualified entry only a subject of that kind, a bare entry a subject of any kind.
allowed_subject(s) if qualified_name(s) in allowed

allowed_subject(s) if {
	some entry in allowed
	not qualified(entry)
	entry == subject_name(s)
}

# The kinds an entry may name before a colon: "User:alice", "Group:system:masters",
# "ServiceAccount:ops:deployer".
subject_kinds := {"User", "Group", "ServiceAccount"}

qualified(entry) if {
	some kind in subject_kinds
	startswith(entry, sprintf("%s:", [kind]))
}

# qualified_name is the kind-qualified entry that names the subject.
qualified_name(s) := sprintf("ServiceAccount:%s:%s", [namespace(s), s.name]) if s.kind == "ServiceAccount"

qualified_name(s) := sprintf("%s:%s", [s.kind, s.name]) if s.kind != "ServiceAccount"

# subject_name is how a bare entry of rbac.allowedSubjects names a subject.
subject_name(s) := sprintf("system:serviceaccount:%s:%s", [namespace(s), s.name]) if s.kind == "ServiceAccount"

subject_name(s) := s.name if s.kind != "ServiceAccount"

namespace(s) := s.namespace if {
	s.namespace != ""
} else := binding_namespace

allowed_list := concat(", ", allowed) if count(allowed) > 0

else := "none"
