package bailiff.placement.lib_test

import data.bailiff.placement.lib

cfg := {"placement": {"dataClasses": {
	"pii": {"regions": ["eu-west-1", "eu-central-1"]},
	"nowhere": {"regions": []},
	"broken": {},
}}}

eu := ["eu-west-1", "eu-central-1"]

deployment(pod_labels, namespace_labels) := {
	"request": {
		"kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
		"object": {"spec": {"template": {"metadata": {"labels": pod_labels}, "spec": {"containers": [{"name": "web"}]}}}},
	},
	"context": {"namespace": {"name": "payments", "labels": namespace_labels}},
}

pvc(labels, namespace_labels) := {
	"request": {"kind": {"kind": "PersistentVolumeClaim"}, "object": {"metadata": {"name": "data", "labels": labels}}},
	"context": {"namespace": {"name": "payments", "labels": namespace_labels}},
}

class(value) := {"bailiff.io/data-class": value}

test_class_comes_from_the_pod_template if {
	lib.labelled == {
		"class": "pii",
		"source": "its bailiff.io/data-class label",
		"field": `spec.template.metadata.labels["bailiff.io/data-class"]`,
	} with input as deployment(class("pii"), {})
}

test_class_falls_back_to_the_namespace if {
	lib.labelled == {"class": "pii", "source": `namespace "payments"`, "field": ""} with input as deployment({}, class("pii"))
	lib.class_text == `data class "pii" (from namespace "payments")` with input as deployment({}, class("pii"))
}

test_pod_template_wins_over_the_namespace if {
	lib.data_class == "public" with input as deployment(class("public"), class("pii"))
}

test_an_empty_label_is_a_class_too if {
	lib.data_class == "" with input as deployment(class(""), class("pii"))
}

test_claims_use_their_own_labels_else_the_namespace if {
	lib.labelled.field == `metadata.labels["bailiff.io/data-class"]` with input as pvc(class("pii"), {})
	lib.data_class == "public" with input as pvc(class("public"), class("pii"))
	lib.data_class == "pii" with input as pvc({}, class("pii"))
}

test_other_kinds_have_no_class if {
	not lib.data_class with input as {
		"request": {"kind": {"kind": "ConfigMap"}, "object": {"metadata": {"labels": class("pii")}}},
		"context": {"namespace": {"labels": class("pii")}},
	}
}

test_no_label_no_class if {
	not lib.data_class with input as deployment({"app": "web"}, {})
}

test_regions_of_known_classes if {
	lib.regions == eu with input as deployment(class("pii"), {}) with data.bailiff.config as cfg
	lib.regions == [] with input as deployment(class("nowhere"), {}) with data.bailiff.config as cfg
	lib.regions == [] with input as deployment(class("broken"), {}) with data.bailiff.config as cfg
	not lib.regions with input as deployment(class("secret"), {}) with data.bailiff.config as cfg
	not lib.known with input as deployment(class("secret"), {}) with data.bailiff.config as cfg
}

test_cluster_region_is_empty_unless_configured if {
	lib.cluster_region == "eu-west-1" with input as {"context": {"cluster": {"region": "eu-west-1"}}}
	lib.cluster_region == "" with input as {"context": {"cluster": {"region": null}}}
	lib.cluster_region == "" with input as {"context": {}}
}

expr(key, operator, values) := {"key": key, "operator": operator, "values": values}

region := "topology.kubernetes.io/region"

test_a_term_pins_with_In_and_allowed_values_only if {
	lib.term_pins({"matchExpressions": [expr(region, "In", ["eu-west-1"])]}, eu)
	lib.term_pins({"matchExpressions": [expr("disktype", "In", ["ssd"]), expr(region, "In", eu)]}, eu)
	not lib.term_pins({"matchExpressions": [expr(region, "In", ["eu-west-1", "us-east-1"])]}, eu)
	not lib.term_pins({"matchExpressions": [expr(region, "In", [])]}, eu)
	not lib.term_pins({"matchExpressions": [expr(region, "NotIn", ["us-east-1"])]}, eu)
	not lib.term_pins({"matchExpressions": [{"key": region, "operator": "Exists"}]}, eu)
	not lib.term_pins({"matchExpressions": [{"key": region, "operator": "DoesNotExist"}]}, eu)
	not lib.term_pins({"matchExpressions": [expr("failure-domain.beta.kubernetes.io/region", "In", ["eu-west-1"])]}, eu)
	not lib.term_pins({"matchFields": [expr("metadata.name", "In", ["node-1"])]}, eu)
}

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"spec": spec}}}

required(terms) := {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}

pin := {"matchExpressions": [expr(region, "In", ["eu-west-1"])]}

test_pinned_by_node_selector if {
	lib.pinned(eu) with input as pod({"nodeSelector": {region: "eu-central-1"}})
	not lib.pinned(eu) with input as pod({"nodeSelector": {region: "us-east-1"}})
	not lib.pinned(eu) with input as pod({"nodeSelector": {"failure-domain.beta.kubernetes.io/region": "eu-west-1"}})
}

test_pinned_only_when_every_term_pins if {
	lib.pinned(eu) with input as pod(required([pin]))
	lib.pinned(eu) with input as pod(required([pin, pin]))
	not lib.pinned(eu) with input as pod(required([pin, {"matchExpressions": [expr("disktype", "In", ["ssd"])]}]))
	not lib.pinned(eu) with input as pod(required([]))
	not lib.pinned(eu) with input as pod(required(null))
	lib.required_terms == [] with input as pod(required(null))
	not lib.pinned(eu) with input as pod({})
}

test_preferred_affinity_does_not_pin if {
	not lib.pinned(eu) with input as pod({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
		"weight": 100,
		"preference": pin,
	}]}}})
}

test_with_field_leaves_out_an_empty_field if {
	lib.with_field({"msg": "m"}, "") == {"msg": "m"}
	lib.with_field({"msg": "m"}, "a.b") == {"msg": "m", "field": "a.b"}
}
