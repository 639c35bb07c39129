# METADATA
# title: Roles do not grant exec or attach into pods
# description: >-
#   A Role or ClusterRole rule must not grant get or create (or "*") on pods/exec or
#   pods/attach in the core API group, whether named, through "*", or through "*/exec"
#   and "*/attach". Exec and attach run commands in, or take over the terminal of, a
#   running container: its files, its secrets and its service-account token. Get is
#   enough, as kubectl connects over WebSocket with a GET, so a read-only rule on
#   resources "*" grants it too. Debugging access is better given per person and per
#   namespace, through an exemption; for logs, grant pods/log. Kubernetes' own bootstrap
#   roles (labelled kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-005
#   severity: high
#   enforcement: deny
#   kinds: [Role, ClusterRole]
#   controls: [NSA-RBAC]
package bailiff.rbac.pod_exec

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

violation contains v if {
	k8s.kind in {"Role", "ClusterRole"}
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	rbac.group_granted(rule, "")
	resources := rbac.resources_granted(rule, ["pods/exec", "pods/attach"])
	count(resources) > 0
	verbs := rbac.verbs_granted(rule, ["get", "create"])
	count(verbs) > 0
	v := {
		"msg": sprintf("rules[%d] grants %s on %s%s, which lets its holder run commands inside running containers and read their secrets and tokens (get alone is enough over WebSocket); remove these from the rule (for logs, grant get on pods/log)", [
			i, concat(", ", verbs), concat(", ", resources), rbac.through(rule, resources),
		]),
		"field": sprintf("rules[%d].resources", [i]),
		"details": {"rule": i, "verbs": verbs, "resources": resources},
	}
}
