# METADATA
# title: Roles do not create service-account tokens
# description: >-
#   A Role or ClusterRole rule should not grant create (or "*") on serviceaccounts/token
#   in the core API group, whether named, through "*" or through "*/token". Creating a
#   token for a service account means acting as it, with every permission it holds, for
#   as long as the token lives. Pods get their tokens from the kubelet without this
#   right; only token brokers need it, and then with resourceNames. Kubernetes' own
#   bootstrap roles (labelled kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-014
#   severity: medium
#   enforcement: warn
#   kinds: [Role, ClusterRole]
#   controls: [CIS-5.1.13]
package bailiff.rbac.token_creation

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

violation contains v if {
	k8s.kind in {"Role", "ClusterRole"}
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	rbac.group_granted(rule, "")
	count(rbac.resources_granted(rule, ["serviceaccounts/token"])) > 0
	verbs := rbac.verbs_granted(rule, ["create"])
	count(verbs) > 0
	v := {
		"msg": sprintf("rules[%d] grants %s on serviceaccounts/token%s, so its holder can mint tokens for %s and act with all their permissions; remove it (pods receive their own tokens without it)", [
			i, concat(", ", verbs), rbac.through(rule, ["serviceaccounts/token"]), which_accounts(rule),
		]),
		"field": sprintf("rules[%d].resources", [i]),
		"details": {"rule": i, "verbs": verbs, "resourceNames": object.get(rule, "resourceNames", [])},
	}
}

which_accounts(rule) := sprintf("the service accounts named %s", [concat(", ", rule.resourceNames)]) if {
	count(rule.resourceNames) > 0
} else := "every service account it can reach"
