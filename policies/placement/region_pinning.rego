# METADATA
# title: Workloads with a data class are pinned to the class's regions
# description: >-
#   A workload labelled bailiff.io/data-class=<class> (on its pod template, else on its
#   namespace) must only be schedulable on nodes in the regions placement.dataClasses
#   lists for that class, so that personal data is not processed outside them. Pinned
#   means either nodeSelector topology.kubernetes.io/region names an allowed region, or
#   the pod has a required node affinity
#   (affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution) in which every
#   nodeSelectorTerm (terms are ORed) has a matchExpression on topology.kubernetes.io/region
#   with operator In and only allowed values. NotIn, Exists and DoesNotExist do not pin,
#   preferred affinities do not pin, and only topology.kubernetes.io/region counts: the
#   legacy failure-domain.beta.kubernetes.io/region label is not accepted. To comply, pin
#   the pods this way; BLF-GEO-003 adds the affinity itself when it can. Unknown classes are
#   BLF-GEO-005's concern.
# scope: package
# custom:
#   id: BLF-GEO-001
#   severity: high
#   enforcement: deny
#   kinds: [workloads]
#   controls: [GDPR-Art44, GDPR-Art25]
#   mutates: false
package bailiff.placement.region_pinning

import data.bailiff.lib.k8s
import data.bailiff.placement.lib

allowed_text := concat(", ", lib.regions)

# The expression that pins, as the fix in messages.
pin_text := sprintf("{key: %s, operator: In, values: [%s]} (or a subset of those values)", [lib.region_key, allowed_text])

unpinned if {
	k8s.is_workload
	lib.known
	not lib.pinned(lib.regions)
}

# Most workloads carry no data class: one test settles them, and only the pods of a
# known class that are not pinned have their findings worked out.
violation contains v if {
	unpinned
	some v in findings
}

# Nothing says where the pods may run.
findings contains v if {
	unpinned
	not lib.selector_region
	count(lib.required_terms) == 0
	v := {
		"msg": sprintf("pods of %s may only run in %s, but nothing pins them there; add a required node affinity whose term matches %s, or set nodeSelector %s to one of those regions", [
			lib.class_text, allowed_text, pin_text, lib.region_key,
		]),
		"field": sprintf("%s.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution", [k8s.pod_spec_field]),
		"details": details,
	}
}

# The nodeSelector names a region outside the class.
findings contains v if {
	unpinned
	region := lib.selector_region
	not region in lib.regions
	v := {
		"msg": sprintf("pods of %s may only run in %s, but nodeSelector %s asks for %q; set it to one of those regions", [
			lib.class_text, allowed_text, lib.region_key, region,
		]),
		"field": lib.selector_field,
		"details": object.union(details, {"nodeSelectorRegion": region}),
	}
}

# A required node affinity term lets the pods run outside the class's regions.
findings contains v if {
	unpinned
	some i, term in lib.required_terms
	not lib.term_pins(term, lib.regions)
	v := {
		"msg": sprintf("pods of %s may only run in %s, but required node affinity term %d %s, and any one term is enough to schedule a pod there; add %s to that term's matchExpressions", [
			lib.class_text, allowed_text, i, term_problem(term), pin_text,
		]),
		"field": sprintf("%s[%d]", [lib.required_terms_field, i]),
		"details": object.union(details, {"term": i}),
	}
}

details := {"dataClass": lib.data_class, "allowedRegions": lib.regions}

# What is wrong with a term that does not pin.
term_problem(term) := sprintf("has no %s expression", [lib.region_key]) if {
	count(region_expressions(term)) == 0
}

term_problem(term) := sprintf("only has %s", [concat(" and ", [describe(e) | some e in region_expressions(term)])]) if {
	count(region_expressions(term)) > 0
}

region_expressions(term) := [e |
	some e in object.get(term, "matchExpressions", [])
	e.key == lib.region_key
]

describe(e) := sprintf("%s %s [%s]", [lib.region_key, e.operator, concat(", ", e.values)]) if count(object.get(e, "values", [])) > 0

describe(e) := sprintf("%s %s", [lib.region_key, e.operator]) if count(object.get(e, "values", [])) == 0
