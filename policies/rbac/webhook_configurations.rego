# METADATA
# title: ClusterRoles do not change admission webhooks and policies
# description: >-
#   A ClusterRole rule should not grant create, update, patch, delete or deletecollection
#   (or "*") in admissionregistration.k8s.io on mutatingwebhookconfigurations or
#   validatingwebhookconfigurations, nor on the validating and mutating admission
#   policies and their bindings, which act on admission just as webhooks do. Whoever
#   holds it can switch admission control off (Bailiff's own webhooks included) or send
#   every object to a webhook of their choosing. Leave it to the platform team that
#   installs admission controllers. Kubernetes' own bootstrap roles (labelled
#   kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-013
#   severity: medium
#   enforcement: warn
#   kinds: [ClusterRole]
#   controls: [CIS-5.1.12]
package bailiff.rbac.webhook_configurations

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

admission_resources := [
	"mutatingwebhookconfigurations",
	"validatingwebhookconfigurations",
	"validatingadmissionpolicies",
	"validatingadmissionpolicybindings",
	"mutatingadmissionpolicies",
	"mutatingadmissionpolicybindings",
]

violation contains v if {
	k8s.kind == "ClusterRole"
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	rbac.group_granted(rule, "admissionregistration.k8s.io")
	resources := rbac.resources_granted(rule, admission_resources)
	count(resources) > 0
	verbs := rbac.verbs_granted(rule, ["create", "update", "patch", "delete", "deletecollection"])
	count(verbs) > 0
	v := {
		"msg": sprintf("rules[%d] grants %s on %s%s, so its holder can switch admission control off or route objects to a webhook of their choosing; grant only get, list and watch, and leave changes to the team that installs admission controllers", [
			i, concat(", ", verbs), concat(", ", resources), rbac.through(rule, resources),
		]),
		"field": sprintf("rules[%d].resources", [i]),
		"details": {"rule": i, "verbs": verbs, "resources": resources},
	}
}
