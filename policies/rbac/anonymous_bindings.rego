# METADATA
# title: Roles are not bound to anonymous or all authenticated users
# description: >-
#   A RoleBinding or ClusterRoleBinding must not name system:anonymous,
#   system:unauthenticated or system:authenticated (as a User or a Group) as a subject:
#   that grants the role to anyone who can reach the API server, or to every user and
#   service account in the cluster. Only the bindings Kubernetes itself creates are
#   accepted, matched exactly on the ClusterRoleBinding's roleRef (a ClusterRole) and
#   the Group: system:public-info-viewer to system:authenticated and
#   system:unauthenticated, and system:discovery and system:basic-user to
#   system:authenticated. (Kubernetes stopped binding system:discovery to unauthenticated
#   users in 1.14, so that binding is refused.) Bind the role to the users, groups or
#   service accounts that need it instead. Kubernetes' own bootstrap bindings (labelled
#   kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-007
#   severity: critical
#   enforcement: deny
#   kinds: [RoleBinding, ClusterRoleBinding]
#   controls: [NSA-RBAC]
package bailiff.rbac.anonymous_bindings

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

# Who each of the special names stands for.
audience := {
	"system:anonymous": "every request made without credentials",
	"system:unauthenticated": "every request made without valid credentials",
	"system:authenticated": "every authenticated user, including every service account in the cluster",
}

# The default bindings of the API server: ClusterRole name to the Groups it is bound to.
kubernetes_defaults := {
	"system:public-info-viewer": {"system:authenticated", "system:unauthenticated"},
	"system:discovery": {"system:authenticated"},
	"system:basic-user": {"system:authenticated"},
}

violation contains v if {
	k8s.kind in {"RoleBinding", "ClusterRoleBinding"}
	not rbac.is_bootstrap
	role := k8s.obj.roleRef
	some i, subject in object.get(k8s.obj, "subjects", [])
	subject.kind in {"User", "Group"}
	who := audience[subject.name]
	not kubernetes_default(role, subject)
	v := {
		"msg": sprintf("subjects[%d]: binding %s %q to %s %q grants it to %s; bind it to the specific users, groups or service accounts that need it", [
			i, object.get(role, "kind", "role"), role.name, subject.kind, subject.name, who,
		]),
		"field": sprintf("subjects[%d]", [i]),
		"details": {"subject": subject.name, "kind": subject.kind, "role": role.name},
	}
}

kubernetes_default(role, subject) if {
	k8s.kind == "ClusterRoleBinding"
	role.kind == "ClusterRole"
	subject.kind == "Group"
	subject.name in kubernetes_defaults[role.name]
}
