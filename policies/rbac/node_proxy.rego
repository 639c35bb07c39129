# METADATA
# title: ClusterRoles do not grant the nodes/proxy subresource
# description: >-
#   A ClusterRole rule must not grant get or create (or "*") on nodes/proxy in the core
#   API group, whether named, through "*" or through "*/proxy". nodes/proxy reaches the
#   kubelet API of every node directly: its exec and run endpoints run commands in any
#   pod on the node, and such requests bypass admission and most audit logging. Get is
#   enough, as exec over WebSocket starts with a GET. Grant nodes/metrics, nodes/stats
#   or nodes/log for monitoring instead. Kubernetes' own bootstrap roles (labelled
#   kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-006
#   severity: high
#   enforcement: deny
#   kinds: [ClusterRole]
#   controls: [CIS-5.1.10, NSA-RBAC]
package bailiff.rbac.node_proxy

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

violation contains v if {
	k8s.kind == "ClusterRole"
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	rbac.group_granted(rule, "")
	count(rbac.resources_granted(rule, ["nodes/proxy"])) > 0
	verbs := rbac.verbs_granted(rule, ["get", "create"])
	count(verbs) > 0
	v := {
		"msg": sprintf("rules[%d] grants %s on nodes/proxy%s, which reaches the kubelet API of every node and lets its holder run commands in any pod, bypassing admission; remove it (for monitoring, grant get on nodes/metrics, nodes/stats or nodes/log)", [
			i, concat(", ", verbs), rbac.through(rule, ["nodes/proxy"]),
		]),
		"field": sprintf("rules[%d].resources", [i]),
		"details": {"rule": i, "verbs": verbs},
	}
}
