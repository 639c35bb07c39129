# METADATA
# title: Roles name their verbs, resources and API groups
# description: >-
#   A Role or ClusterRole rule must not use "*" in verbs, resources or apiGroups: a
#   wildcard grants every verb, resource or group that exists now and every one added
#   later (new CRDs, new subresources), so the role silently grows. Entries such as
#   "*/scale" (that subresource of every resource) count as wildcards too. One violation
#   is reported per rule and field. List exactly what the role needs instead. Kubernetes'
#   own bootstrap roles (labelled kubernetes.io/bootstrapping: rbac-defaults) are skipped.
# scope: package
# custom:
#   id: BLF-RBAC-001
#   severity: high
#   enforcement: deny
#   kinds: [Role, ClusterRole]
#   controls: [CIS-5.1.3, NSA-RBAC]
package bailiff.rbac.wildcards

import data.bailiff.lib.k8s
import data.bailiff.lib.rbac

# What each field's wildcard means, and what to write instead.
advice := {
	"verbs": ["every verb, including escalate, bind and impersonate", "list the verbs it needs, e.g. [get, list, watch]"],
	"resources": ["every resource and subresource, including secrets and any added later", "list the resources it needs by name, e.g. [configmaps, pods/log]"],
	"apiGroups": ["every API group, including ones added later by CRDs", "list the API groups it needs (\"\" for the core group)"],
}

violation contains v if {
	k8s.kind in {"Role", "ClusterRole"}
	not rbac.is_bootstrap
	some i, rule in object.get(k8s.obj, "rules", [])
	some field, texts in advice
	wildcards := [entry | some entry in object.get(rule, field, []); is_string(entry); contains(entry, "*")]
	count(wildcards) > 0
	v := {
		"msg": sprintf("rules[%d] uses the wildcard %s in %s, which grants %s; %s", [
			i, quoted(wildcards), field, texts[0], texts[1],
		]),
		"field": sprintf("rules[%d].%s", [i, field]),
		"details": {"rule": i, "field": field, "wildcards": wildcards},
	}
}

# quoted renders ["*", "*/scale"] as "*", "*/scale".
quoted(entries) := concat(", ", [sprintf("%q", [e]) | some e in entries])
