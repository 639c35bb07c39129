# METADATA
# title: ClusterRoles do not create PersistentVolumes
# description: >-
#   A ClusterRole rule should not grant create (or "*") on persistentvolumes in the core
#   API group: whoever creates a PersistentVolume chooses what it points at, and a
#   hostPath volume mounts any directory of a node, which is a route to root on that
#   node. Workloads should ask for storage with PersistentVolumeClaims and a
#   StorageClass; only the storage provisioners need this right. Kubernetes' own bootstrap
#   roles (labelled kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-011
#   severity: medium
#   enforcement: warn
#   kinds: [ClusterRole]
#   controls: [CIS-5.1.9]
package bailiff.rbac.persistent_volumes

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

violation contains v if {
	k8s.kind == "ClusterRole"
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	rbac.group_granted(rule, "")
	count(rbac.resources_granted(rule, ["persistentvolumes"])) > 0
	verbs := rbac.verbs_granted(rule, ["create"])
	count(verbs) > 0
	v := {
		"msg": sprintf("rules[%d] grants %s on persistentvolumes%s, so its holder can create volumes that mount any directory of a node (hostPath); request storage with PersistentVolumeClaims and a StorageClass instead, and leave creating PersistentVolumes to storage provisioners", [
			i, concat(", ", verbs), rbac.through(rule, ["persistentvolumes"]),
		]),
		"field": sprintf("rules[%d].resources", [i]),
		"details": {"rule": i, "verbs": verbs},
	}
}
