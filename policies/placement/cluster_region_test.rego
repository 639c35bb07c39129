package bailiff.placement.cluster_region_test

import data.bailiff.placement.cluster_region

cfg := {"placement": {"dataClasses": {
	"pii": {"regions": ["eu-west-1", "eu-central-1"]},
	"sealed": {"regions": []},
}}}

review(kind, object, cluster, namespace_labels) := {
	"request": {"kind": {"kind": kind}, "object": object},
	"context": {"cluster": cluster, "namespace": {"name": "payments", "labels": namespace_labels}},
}

deployment(pod_labels, cluster, namespace_labels) := review(
	"Deployment",
	{"metadata": {"name": "web"}, "spec": {"template": {"metadata": {"labels": pod_labels}, "spec": {"containers": [{"name": "web"}]}}}},
	cluster,
	namespace_labels,
)

class(value) := {"bailiff.io/data-class": value}

violations(r) := vs if {
	vs := cluster_region.violation with input as r with data.bailiff.config as cfg
}

test_cluster_inside_the_class_regions_is_allowed if {
	count(violations(deployment(class("pii"), {"region": "eu-central-1"}, {}))) == 0
}

test_cluster_outside_the_class_regions_is_denied if {
	vs := violations(deployment(class("pii"), {"region": "us-east-1"}, {}))
	count(vs) == 1
	some v in vs
	v.msg == `Deployment "web" holds data class "pii" (from its bailiff.io/data-class label), which may only be processed and stored in eu-west-1, eu-central-1, but this cluster is in us-east-1; deploy it to a cluster in one of those regions`
	v.field == `spec.template.metadata.labels["bailiff.io/data-class"]`
	v.details == {"dataClass": "pii", "clusterRegion": "us-east-1", "allowedRegions": ["eu-west-1", "eu-central-1"]}
}

test_class_from_the_namespace_has_no_field if {
	some v in violations(deployment({}, {"region": "us-east-1"}, class("pii")))
	not v.field
	contains(v.msg, `data class "pii" (from namespace "payments")`)
}

test_unconfigured_cluster_region_fails_closed if {
	some v in violations(deployment(class("pii"), {"name": "prod"}, {}))
	contains(v.msg, "this cluster's region is not configured")
	contains(v.msg, "set cluster.region")
	some w in violations(deployment(class("pii"), {"region": ""}, {}))
	w.details.clusterRegion == ""
	some u in violations(review("Deployment", {"spec": {"template": {"metadata": {"labels": class("pii")}}}}, null, {}))
	startswith(u.msg, `Deployment holds data class "pii"`)
}

test_a_class_with_no_regions_is_denied_everywhere if {
	some v in violations(deployment(class("sealed"), {"region": "eu-west-1"}, {}))
	contains(v.msg, "may only be processed and stored in no region (the class lists none)")
}

test_workloads_without_a_class_are_not_checked if {
	count(violations(deployment({}, {"region": "us-east-1"}, {}))) == 0
	count(violations(deployment({}, {}, {}))) == 0
}

test_unknown_classes_are_left_to_BLF_GEO_005 if {
	count(violations(deployment(class("secret"), {"region": "us-east-1"}, {}))) == 0
}

test_claims_are_checked_too if {
	claim := review("PersistentVolumeClaim", {"metadata": {"name": "data", "labels": class("pii")}}, {"region": "us-east-1"}, {})
	some v in violations(claim)
	v.field == `metadata.labels["bailiff.io/data-class"]`
	startswith(v.msg, `PersistentVolumeClaim "data" holds data class "pii"`)
}

test_other_kinds_are_not_checked if {
	count(violations(review("ConfigMap", {"metadata": {"labels": class("pii")}}, {"region": "us-east-1"}, class("pii")))) == 0
}
