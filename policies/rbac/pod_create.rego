# METADATA
# title: Roles do not create pods
# description: >-
#   A Role or ClusterRole rule should not grant create (or "*") on pods in the core API
#   group, whether named or through "*". Whoever creates a pod chooses what it runs
#   and as whom: it can run as any service account of its namespace and use that
#   account's token, and mount the namespace's Secrets and ConfigMaps, so creating pods
#   is a route to every permission granted in the namespace. Keep this right to the
#   few people and controllers that need it. Kubernetes' own bootstrap roles (labelled
#   kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-015
#   severity: medium
#   enforcement: warn
#   kinds: [Role, ClusterRole]
#   controls: [CIS-5.1.4]
package bailiff.rbac.pod_create

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

violation contains v if {
	k8s.kind in {"Role", "ClusterRole"}
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	rbac.group_granted(rule, "")
	count(rbac.resources_granted(rule, ["pods"])) > 0
	verbs := rbac.verbs_granted(rule, ["create"])
	count(verbs) > 0
	v := {
		"msg": sprintf("rules[%d] grants %s on pods%s, so its holder can start pods that run as any service account of their namespace and mount its Secrets, gaining every permission granted there; remove it unless the holder must create pods itself", [
			i, concat(", ", verbs), rbac.through(rule, ["pods"]),
		]),
		"field": sprintf("rules[%d].resources", [i]),
		"details": {"rule": i, "verbs": verbs},
	}
}
