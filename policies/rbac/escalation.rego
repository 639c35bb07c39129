# METADATA
# title: Roles do not grant escalate, bind or impersonate
# description: >-
#   A Role or ClusterRole rule must not grant escalate or bind on roles or clusterroles
#   (rbac.authorization.k8s.io), or impersonate on users, groups, serviceaccounts (core
#   group) or uids and userextras (authentication.k8s.io). Each lets its holder gain
#   permissions it was never given: escalate writes roles beyond its own rights, bind
#   binds them, impersonate acts as someone who has them. A "*" verb grants all three
#   wherever it covers those resources, and is reported too. Verbs on other resources
#   grant nothing and are ignored, and resourceNames does not make a rule acceptable:
#   binding or impersonating one powerful name is enough. Remove the verbs; a delegation
#   that really needs them (a tenant admin granting a fixed role) is a case for an
#   exemption. Kubernetes' own bootstrap roles (labelled kubernetes.io/bootstrapping:
#   rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-003
#   severity: high
#   enforcement: deny
#   kinds: [Role, ClusterRole]
#   controls: [CIS-5.1.8, NSA-RBAC]
package bailiff.rbac.escalation

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

# Each verb, the API groups and resources it is dangerous on, and what it lets the holder do.
targets := {
	"escalate": {"rbac.authorization.k8s.io": ["roles", "clusterroles"]},
	"bind": {"rbac.authorization.k8s.io": ["roles", "clusterroles"]},
	"impersonate": {
		"": ["users", "groups", "serviceaccounts"],
		"authentication.k8s.io": ["uids", "userextras"],
	},
}

effect := {
	"escalate": "create or update roles with permissions it does not hold",
	"bind": "bind roles with permissions it does not hold",
	"impersonate": "act as other users, groups or service accounts",
}

violation contains v if {
	k8s.kind in {"Role", "ClusterRole"}
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	grants := granted(rule)
	count(grants) > 0
	v := {
		"msg": sprintf("rules[%d] grants %s, so its holder can gain permissions it was never given; remove %s from the rule", [
			i,
			concat("; ", [sprintf("%s on %s (%s)", [verb, concat(", ", resources), effect[verb]]) | some verb, resources in grants]),
			concat(", ", [verb | some verb, _ in grants]),
		]),
		"field": sprintf("rules[%d].verbs", [i]),
		"details": {"rule": i, "grants": grants, "verbs": object.get(rule, "verbs", [])},
	}
}

# granted maps each dangerous verb the rule grants to the resources it grants it on.
granted(rule) := {verb: resources |
	some verb, groups in targets
	count(rbac.verbs_granted(rule, [verb])) > 0
	resources := [resource |
		some group, candidates in groups
		rbac.group_granted(rule, group)
		some resource in candidates
		covers(rule, resource)
	]
	count(resources) > 0
}

# covers holds when the rule's resources include resource.
covers(rule, resource) if rbac.resource_granted(object.get(rule, "resources", []), resource)

# userextras is only ever granted per scope: userextras/<scope>.
covers(rule, "userextras") if {
	some granted_resource in object.get(rule, "resources", [])
	startswith(granted_resource, "userextras/")
}
