package bailiff.placement.region_pinning_test

import data.bailiff.placement.region_pinning

cfg := {"placement": {"dataClasses": {"pii": {"regions": ["eu-west-1", "eu-central-1"]}}}}

region := "topology.kubernetes.io/region"

deployment(pod_labels, spec) := {
	"request": {
		"kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
		"object": {"spec": {"template": {"metadata": {"labels": pod_labels}, "spec": object.union({"containers": [{"name": "web"}]}, spec)}}},
	},
	"context": {"cluster": {"region": "eu-west-1"}, "namespace": {"name": "payments", "labels": {}}},
}

pii := {"bailiff.io/data-class": "pii"}

in_expr(values) := {"key": region, "operator": "In", "values": values}

required(terms) := {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}

violations(labels, spec) := vs if {
	vs := region_pinning.violation with input as deployment(labels, spec) with data.bailiff.config as cfg
}

test_pinned_by_required_affinity_passes if {
	count(violations(pii, required([{"matchExpressions": [in_expr(["eu-west-1", "eu-central-1"])]}]))) == 0
}

test_pinned_by_node_selector_passes if {
	count(violations(pii, {"nodeSelector": {region: "eu-central-1"}})) == 0
}

test_workloads_without_a_data_class_are_not_checked if {
	count(violations({"app": "web"}, {})) == 0
}

test_unknown_classes_are_left_to_BLF_GEO_005 if {
	count(violations({"bailiff.io/data-class": "secret"}, {})) == 0
}

test_unpinned_workload_is_told_how_to_pin if {
	vs := violations(pii, {})
	count(vs) == 1
	some v in vs
	v.field == "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
	v.msg == `pods of data class "pii" (from its bailiff.io/data-class label) may only run in eu-west-1, eu-central-1, but nothing pins them there; add a required node affinity whose term matches {key: topology.kubernetes.io/region, operator: In, values: [eu-west-1, eu-central-1]} (or a subset of those values), or set nodeSelector topology.kubernetes.io/region to one of those regions`
	v.details == {"dataClass": "pii", "allowedRegions": ["eu-west-1", "eu-central-1"]}
}

test_class_from_the_namespace_is_checked if {
	review := json.patch(deployment({}, {}), [{"op": "add", "path": "/context/namespace/labels", "value": pii}])
	some v in region_pinning.violation with input as review with data.bailiff.config as cfg
	contains(v.msg, `data class "pii" (from namespace "payments")`)
}

test_node_selector_outside_the_regions_is_denied if {
	vs := violations(pii, {"nodeSelector": {region: "us-east-1"}})
	count(vs) == 1
	some v in vs
	v.field == `spec.template.spec.nodeSelector["topology.kubernetes.io/region"]`
	contains(v.msg, `nodeSelector topology.kubernetes.io/region asks for "us-east-1"`)
}

test_legacy_region_label_does_not_pin if {
	count(violations(pii, {"nodeSelector": {"failure-domain.beta.kubernetes.io/region": "eu-west-1"}})) == 1
	count(violations(pii, required([{"matchExpressions": [{
		"key": "failure-domain.beta.kubernetes.io/region",
		"operator": "In",
		"values": ["eu-west-1"],
	}]}]))) == 1
}

test_every_term_must_pin_because_terms_are_ORed if {
	vs := violations(pii, required([
		{"matchExpressions": [in_expr(["eu-west-1"])]},
		{"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]}]},
	]))
	count(vs) == 1
	some v in vs
	v.field == "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[1]"
	contains(v.msg, "required node affinity term 1 has no topology.kubernetes.io/region expression, and any one term is enough to schedule a pod there; add {key: topology.kubernetes.io/region, operator: In, values: [eu-west-1, eu-central-1]} (or a subset of those values) to that term's matchExpressions")
	v.details.term == 1
}

test_NotIn_Exists_and_DoesNotExist_do_not_pin if {
	vs := violations(pii, required([
		{"matchExpressions": [{"key": region, "operator": "NotIn", "values": ["us-east-1"]}]},
		{"matchExpressions": [{"key": region, "operator": "Exists"}]},
		{"matchExpressions": [{"key": region, "operator": "DoesNotExist"}]},
	]))
	{v.details.term | some v in vs} == {0, 1, 2}
	some v in vs
	v.details.term == 0
	contains(v.msg, "term 0 only has topology.kubernetes.io/region NotIn [us-east-1]")
}

test_In_with_a_region_outside_the_class_does_not_pin if {
	some v in violations(pii, required([{"matchExpressions": [in_expr(["eu-west-1", "us-east-1"])]}]))
	contains(v.msg, "term 0 only has topology.kubernetes.io/region In [eu-west-1, us-east-1]")
}

test_a_term_is_pinned_by_any_of_its_ANDed_expressions if {
	count(violations(pii, required([{"matchExpressions": [
		{"key": region, "operator": "NotIn", "values": ["us-east-1"]},
		in_expr(["eu-central-1"]),
	]}]))) == 0
}

test_preferred_affinity_does_not_pin if {
	count(violations(pii, {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
		"weight": 100,
		"preference": {"matchExpressions": [in_expr(["eu-west-1"])]},
	}]}}})) == 1
}

test_a_correct_affinity_makes_up_for_a_wrong_node_selector if {
	count(violations(pii, object.union(
		{"nodeSelector": {region: "us-east-1"}},
		required([{"matchExpressions": [in_expr(["eu-west-1"])]}]),
	))) == 0
}

test_wrong_node_selector_and_unpinned_terms_are_both_reported if {
	vs := violations(pii, object.union(
		{"nodeSelector": {region: "us-east-1"}},
		required([{"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]}]}]),
	))
	{v.field | some v in vs} == {
		`spec.template.spec.nodeSelector["topology.kubernetes.io/region"]`,
		"spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]",
	}
}

test_a_class_without_regions_can_never_be_pinned if {
	vs := region_pinning.violation with input as deployment(pii, {"nodeSelector": {region: "eu-west-1"}})
		with data.bailiff.config as {"placement": {"dataClasses": {"pii": {"regions": []}}}}
	count(vs) == 1
}

test_pods_are_checked_at_their_own_spec if {
	some v in region_pinning.violation with input as {"request": {"kind": {"kind": "Pod"}, "object": {
		"metadata": {"labels": pii},
		"spec": {"containers": [{"name": "web"}]},
	}}}
		with data.bailiff.config as cfg
	v.field == "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
}
