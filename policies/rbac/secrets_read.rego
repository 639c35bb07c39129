# METADATA
# title: ClusterRoles do not read Secrets
# description: >-
#   A ClusterRole rule must not grant get, list or watch (or "*") on secrets in the core
#   API group ("" or "*"): a ClusterRole can be bound cluster-wide, and list or watch
#   returns the contents of every Secret (tokens, passwords, keys) in every namespace.
#   The ClusterRole itself is judged, not its bindings: a RoleBinding to it would limit
#   it to one namespace, but nothing stops a ClusterRoleBinding later. resourceNames
#   narrows the names but not the namespaces, so such rules are reported too. Grant
#   Secret access with a Role in the namespace that needs it, ideally naming the Secrets
#   with resourceNames. Kubernetes' own bootstrap roles (labelled
#   kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-004
#   severity: high
#   enforcement: deny
#   kinds: [ClusterRole]
#   controls: [CIS-5.1.2, NSA-RBAC]
package bailiff.rbac.secrets_read

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

violation contains v if {
	k8s.kind == "ClusterRole"
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	rbac.group_granted(rule, "")
	count(rbac.resources_granted(rule, ["secrets"])) > 0
	verbs := rbac.verbs_granted(rule, ["get", "list", "watch"])
	count(verbs) > 0
	v := {
		"msg": sprintf("rules[%d] grants %s on secrets%s, so whoever holds this ClusterRole through a ClusterRoleBinding can read %s in every namespace; grant access with a Role in the namespace that needs it instead, naming the Secrets with resourceNames", [
			i, concat(", ", verbs), rbac.through(rule, ["secrets"]), which_secrets(rule),
		]),
		"field": sprintf("rules[%d].resources", [i]),
		"details": {"rule": i, "verbs": verbs, "resourceNames": object.get(rule, "resourceNames", [])},
	}
}

which_secrets(rule) := sprintf("the Secrets named %s", [concat(", ", rule.resourceNames)]) if {
	count(rule.resourceNames) > 0
} else := "every Secret"
