# METADATA
# title: Placement helpers
# description: >-
#   Shared by the placement family (not a policy: no id): the data class of the object
#   under review and where it came from, the regions that class may live in, the cluster's
#   region, and whether a pod spec is pinned to a set of regions. Only the
#   topology.kubernetes.io/region label counts; the legacy
#   failure-domain.beta.kubernetes.io/region label is not read.
# scope: package
package bailiff.placement.lib

import data.bailiff.lib.k8s

class_label := "bailiff.io/data-class"

region_key := "topology.kubernetes.io/region"

# The configured data classes: {<class>: {"regions": [...]}}.
classes := object.get(data.bailiff.config, ["placement", "dataClasses"], {})

# The cluster's region; "" when it is not configured.
cluster_region := r if {
	r := input.context.cluster.region
	is_string(r)
} else := ""

# with_field(v, field) is the violation v with its field, unless field is "" (a class
# that comes from the namespace has no field in the object).
with_field(v, field) := object.union(v, {"field": field}) if field != ""

with_field(v, "") := v

# The data class
#
# A workload's class is its pod template's label, else its namespace's; a
# PersistentVolumeClaim's is its own label, else its namespace's.

is_pvc if k8s.kind == "PersistentVolumeClaim"

# The object's own labels, and their field path, for the kinds placement looks at. (A
# workload is never a PersistentVolumeClaim: else spares workloads the second test.)
own_labels := k8s.pod_labels if k8s.is_workload

else := object.get(k8s.obj, ["metadata", "labels"], {}) if is_pvc

own_labels_field := sprintf("%s.labels", [concat(".", k8s.pod_meta_keys[k8s.kind])]) if k8s.is_workload

else := "metadata.labels" if is_pvc

# The data class label, as {"class", "source", "field"}. field is the label's path in the
# object, or "" when the class comes from the namespace (outside the object).
labelled := {
	"class": own_labels[class_label],
	"source": sprintf("its %s label", [class_label]),
	"field": sprintf("%s[%q]", [own_labels_field, class_label]),
} if {
	own_labels[class_label]
} else := {
	"class": k8s.namespace_labels[class_label],
	"source": sprintf("namespace %q", [object.get(input, ["context", "namespace", "name"], "")]),
	"field": "",
} if {
	own_labels
	k8s.namespace_labels[class_label]
}

# The object's data class, whether it is known or not.
data_class := labelled.class

# The object, for messages: `Deployment "web"`, or just the kind when it has no name yet.
subject := sprintf("%s %q", [k8s.kind, name]) if {
	name := k8s.obj.metadata.name
	is_string(name)
	name != ""
} else := k8s.kind

# The class and where it came from, for messages:
# `data class "pii" (from namespace "payments")`.
class_text := sprintf("data class %q (from %s)", [data_class, labelled.source])

# known holds when the object's data class is configured.
known if {
	class := data_class
	class in object.keys(classes)
}

# The regions of a known data class; [] (nowhere) when the class lists none.
regions := r if {
	known
	r := classes[data_class].regions
	is_array(r)
} else := [] if {
	known
}

# The known classes, sorted, for messages.
known_classes := sort(object.keys(classes))

# Pinning

# The pod spec's required node affinity terms; [] when there are none.
required_terms := terms if {
	terms := object.get(
		k8s.pod_spec, [
			"affinity", "nodeAffinity",
			"requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms",
		],
		[],
	)
	is_array(terms)
} else := []

required_terms_field := sprintf(
	"%s.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
	[k8s.pod_spec_field],
)

required_terms_pointer := sprintf(
	"%s/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
	[k8s.pod_spec_pointer],
)

# The region the pod spec's nodeSelector asks for, if any.
selector_region := k8s.pod_spec.nodeSelector[region_key]

selector_field := sprintf("%s.nodeSelector[%q]", [k8s.pod_spec_field, region_key])

# term_pins(term, allowed) holds when the node selector term only matches nodes in the
# allowed regions: one of its (ANDed) expressions is "region In [...]" with every value
# allowed. NotIn, Exists and DoesNotExist do not pin.
term_pins(term, allowed) if {
	some e in term.matchExpressions
	e.key == region_key
	e.operator == "In"
	count(e.values) > 0
	every value in e.values {
		value in allowed
	}
}

# pinned(allowed) holds when the pods can only be scheduled in the allowed regions: the
# nodeSelector names an allowed region, or there are required node affinity terms and
# every one of them (they are ORed) pins.
pinned(allowed) if selector_region in allowed

pinned(allowed) if {
	count(required_terms) > 0
	every term in required_terms {
		term_pins(term, allowed)
	}
}

# The expression that pins a term to the allowed regions.
pin_expression(allowed) := {"key": region_key, "operator": "In", "values": allowed}
