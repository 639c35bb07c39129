# METADATA
# title: RBAC rule helpers
# description: >-
#   Shared helpers for the RBAC policies: which verbs, API groups and resources a
#   Role or ClusterRole rule grants, matched the way the Kubernetes RBAC authorizer
#   matches them ("*" verbs, groups and resources, "*/<subresource>"), how to name the
#   wildcards a rule reaches a resource through, and which objects are Kubernetes' own
#   bootstrap RBAC objects.
# scope: package
package bailiff.lib.rbac

import data.bailiff.lib.k8s

# True when the object under review is one of the RBAC objects the API server creates
# and reconciles at every start (cluster-admin, admin, edit, view, system:*), which
# carry the label kubernetes.io/bootstrapping: rbac-defaults. Policies on RBAC kinds
# skip them: they are Kubernetes' own, and refusing them would only get in the way of
# the API server. Objects of other kinds never count, whatever their labels.
#
# The label alone is not trusted, since anyone who may create a binding may label it:
# the object must also carry a name Kubernetes bootstraps, and at admission the API
# server itself (system:apiserver) must be the one writing it. So a labelled
# "system:..." binding written by anyone else is judged like any other, and the auditor
# only ever meets such objects if admission let them through.
is_bootstrap if {
	k8s.kind in k8s.rbac_kinds
	object.get(k8s.obj, ["metadata", "labels", "kubernetes.io/bootstrapping"], "") == "rbac-defaults"
	bootstrap_name(object.get(k8s.obj, ["metadata", "name"], ""))
	written_by_kubernetes
}

bootstrap_name(name) if name in {"cluster-admin", "admin", "edit", "view"}

bootstrap_name(name) if startswith(name, "system:")

written_by_kubernetes if object.get(input, ["context", "mode"], "") != "admission"

written_by_kubernetes if input.request.userInfo.username == "system:apiserver"

# verbs_granted lists the rule's verbs that grant any of wanted ("*" included).
verbs_granted(rule, wanted) := [verb |
	some verb in object.get(rule, "verbs", [])
	verb_matches(verb, wanted)
]

verb_matches("*", _)

verb_matches(verb, wanted) if verb in wanted

# group_granted holds when the rule's apiGroups name group ("" is the core group) or "*".
group_granted(rule, group) if {
	some granted_group in object.get(rule, "apiGroups", [])
	granted_group in {group, "*"}
}

# resources_granted lists the resources of wanted the rule covers: by name, by "*",
# or, for a subresource, by "*/<subresource>".
resources_granted(rule, wanted) := [resource |
	some resource in wanted
	resource_granted(object.get(rule, "resources", []), resource)
]

# resource_granted holds when the list of resources covers resource.
resource_granted(resources, _) if "*" in resources

resource_granted(resources, resource) if resource in resources

resource_granted(resources, resource) if {
	[_, subresource] := split(resource, "/")
	sprintf("*/%s", [subresource]) in resources
}

# through names the wildcard entries by which a rule reaches resources it does not list
# by name, e.g. ` (through resources "*")`, and is "" when it names them all.
through(rule, reached) := sprintf(" (through resources %s)", [concat(", ", wildcards)]) if {
	listed := object.get(rule, "resources", [])
	some resource in reached
	not resource in listed
	wildcards := [sprintf("%q", [entry]) | some entry in listed; is_string(entry); startswith(entry, "*")]
} else := ""
