package bailiff.placement.known_class_test

import data.bailiff.placement.known_class

cfg := {"placement": {"dataClasses": {
	"pii": {"regions": ["eu-west-1"]},
	"health": {"regions": ["eu-central-1"]},
}}}

review(kind, object, namespace_labels) := {
	"request": {"kind": {"kind": kind}, "object": object},
	"context": {"cluster": {"region": "eu-west-1"}, "namespace": {"name": "payments", "labels": namespace_labels}},
}

pod(labels, namespace_labels) := review("Pod", {"metadata": {"name": "api", "labels": labels}, "spec": {"containers": [{"name": "web"}]}}, namespace_labels)

class(value) := {"bailiff.io/data-class": value}

violations(r) := vs if {
	vs := known_class.violation with input as r with data.bailiff.config as cfg
}

test_known_class_passes if {
	count(violations(pod(class("pii"), {}))) == 0
	count(violations(pod({}, class("health")))) == 0
}

test_no_class_passes if {
	count(violations(pod({"app": "web"}, {}))) == 0
}

test_unknown_class_names_the_known_ones if {
	vs := violations(pod(class("pi"), {}))
	count(vs) == 1
	some v in vs
	v.msg == `Pod "api" is labelled with data class "pi" (from its bailiff.io/data-class label), which is not a configured data class, so where its data may live is unknown; use one of health, pii`
	v.field == `metadata.labels["bailiff.io/data-class"]`
	v.details == {"dataClass": "pi", "knownClasses": ["health", "pii"]}
}

test_unknown_class_on_the_namespace if {
	some v in violations(pod({}, class("secret")))
	not v.field
	contains(v.msg, `data class "secret" (from namespace "payments")`)
}

test_an_empty_label_does_not_escape_the_namespace_class if {
	some v in violations(pod(class(""), class("pii")))
	v.details.dataClass == ""
}

test_no_classes_configured if {
	some v in known_class.violation with input as pod(class("pii"), {}) with data.bailiff.config as {"placement": {"dataClasses": {}}}
	contains(v.msg, "none is configured yet")
}

test_claims_are_checked if {
	some v in violations(review("PersistentVolumeClaim", {"metadata": {"name": "data", "labels": class("secret")}}, {}))
	v.field == `metadata.labels["bailiff.io/data-class"]`
}

test_other_kinds_are_not_checked if {
	count(violations(review("Secret", {"metadata": {"labels": class("secret")}}, class("secret")))) == 0
}
