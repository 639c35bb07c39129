# METADATA
# title: Workloads with a data class get pinned to the class's regions
# description: >-
#   Pins the pods of a workload with a data class (see BLF-GEO-001) to the class's regions
#   when nothing pins them yet, so that a team deploying into a data-class namespace does
#   not have to write the affinity by hand. When the pod has no required node affinity,
#   one is added with a single term {key: topology.kubernetes.io/region, operator: In,
#   values: <the class's regions>}, creating affinity, nodeAffinity and
#   requiredDuringSchedulingIgnoredDuringExecution whole as needed and leaving preferred
#   node affinity, podAffinity and podAntiAffinity as they are. When required terms exist,
#   that expression is added to each term that does not already pin (expressions inside a
#   term are ANDed, so this only narrows where the pod may run). Nothing is added when the
#   pods are already pinned, when nodeSelector names a region (an allowed one pins; a
#   wrong one is refused by BLF-GEO-001 rather than silently contradicted), when the
#   class is unknown (BLF-GEO-005), or when the cluster's region is not one of the
#   class's regions or is not configured (BLF-GEO-002 refuses the workload). Only
#   topology.kubernetes.io/region is used, never the legacy
#   failure-domain.beta.kubernetes.io/region label.
# scope: package
# custom:
#   id: BLF-GEO-003
#   severity: high
#   enforcement: deny
#   kinds: [workloads]
#   controls: [GDPR-Art25, GDPR-Art44]
#   mutates: true
package bailiff.placement.add_region_pinning

import data.bailiff.lib.k8s
import data.bailiff.placement.lib

applies if {
	k8s.is_workload
	lib.known
	lib.cluster_region in lib.regions
	not lib.selector_region
	not lib.pinned(lib.regions)
}

expression := lib.pin_expression(lib.regions)

required := {"nodeSelectorTerms": [{"matchExpressions": [expression]}]}

has_object(path) if is_object(object.get(k8s.pod_spec, path, null))

affinity_pointer := sprintf("%s/affinity", [k8s.pod_spec_pointer])

# No required node affinity: add it, with whichever parents are missing.

patch contains {"op": "add", "path": affinity_pointer, "value": value} if {
	applies
	count(lib.required_terms) == 0
	not has_object(["affinity"])
	value := {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
}

patch contains {"op": "add", "path": sprintf("%s/nodeAffinity", [affinity_pointer]), "value": value} if {
	applies
	count(lib.required_terms) == 0
	has_object(["affinity"])
	not has_object(["affinity", "nodeAffinity"])
	value := {"requiredDuringSchedulingIgnoredDuringExecution": required}
}

patch contains p if {
	applies
	count(lib.required_terms) == 0
	has_object(["affinity", "nodeAffinity"])
	not has_object(["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"])
	p := {
		"op": "add",
		"path": sprintf("%s/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution", [affinity_pointer]),
		"value": required,
	}
}

# An empty (or null) nodeSelectorTerms: replace it with the pinning term.
patch contains {"op": "add", "path": lib.required_terms_pointer, "value": required.nodeSelectorTerms} if {
	applies
	count(lib.required_terms) == 0
	has_object(["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"])
}

# Required terms exist: pin each term that does not pin yet.

patch contains p if {
	applies
	some i, term in lib.required_terms
	not lib.term_pins(term, lib.regions)
	is_array(object.get(term, "matchExpressions", null))
	p := {"op": "add", "path": sprintf("%s/%d/matchExpressions/-", [lib.required_terms_pointer, i]), "value": expression}
}

patch contains p if {
	applies
	some i, term in lib.required_terms
	not lib.term_pins(term, lib.regions)
	not is_array(object.get(term, "matchExpressions", null))
	p := {"op": "add", "path": sprintf("%s/%d/matchExpressions", [lib.required_terms_pointer, i]), "value": [expression]}
}
