# METADATA
# title: ClusterRoles do not approve certificate signing requests
# description: >-
#   A ClusterRole rule should not grant update or patch (or "*") on
#   certificatesigningrequests/approval in certificates.k8s.io, whether named, through
#   "*" or through "*/approval". Approving a CSR issues a client certificate, and a
#   certificate naming the group system:masters is cluster-admin that RBAC cannot
#   revoke. Leave approval to the controller manager's approvers and to the few people
#   who run certificate issuance. Kubernetes' own bootstrap roles (labelled
#   kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-012
#   severity: medium
#   enforcement: warn
#   kinds: [ClusterRole]
#   controls: [CIS-5.1.11]
package bailiff.rbac.csr_approval

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

violation contains v if {
	k8s.kind == "ClusterRole"
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	rbac.group_granted(rule, "certificates.k8s.io")
	count(rbac.resources_granted(rule, ["certificatesigningrequests/approval"])) > 0
	verbs := rbac.verbs_granted(rule, ["update", "patch"])
	count(verbs) > 0
	v := {
		"msg": sprintf("rules[%d] grants %s on certificatesigningrequests/approval%s, so its holder can approve certificates that authenticate as any user or group, system:masters included; remove it, and leave approval to the cluster's certificate approvers", [
			i, concat(", ", verbs), rbac.through(rule, ["certificatesigningrequests/approval"]),
		]),
		"field": sprintf("rules[%d].resources", [i]),
		"details": {"rule": i, "verbs": verbs},
	}
}
