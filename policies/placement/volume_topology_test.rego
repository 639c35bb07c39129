package bailiff.placement.volume_topology_test

import data.bailiff.placement.volume_topology

cfg := {"placement": {"dataClasses": {"pii": {"regions": ["eu-west-1", "eu-central-1"]}}}}

region := "topology.kubernetes.io/region"

pii := {"bailiff.io/data-class": "pii"}

storage_class(topologies) := {"metadata": {"name": "x"}, "allowedTopologies": topologies}

regions_term(values) := {"matchLabelExpressions": [{"key": region, "values": values}]}

eu_only := storage_class([regions_term(["eu-west-1"])])

anywhere := {"metadata": {"name": "x"}, "provisioner": "ebs.csi.aws.com"}

default_class(name, created, topologies) := {
	"metadata": {
		"name": name,
		"creationTimestamp": created,
		"annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
	},
	"allowedTopologies": topologies,
}

claim(metadata, spec, classes) := {
	"request": {"kind": {"kind": "PersistentVolumeClaim"}, "object": {
		"metadata": object.union({"name": "data"}, metadata),
		"spec": object.union({"accessModes": ["ReadWriteOnce"]}, spec),
	}},
	"context": {
		"cluster": {"region": "eu-west-1"},
		"namespace": {"name": "payments", "labels": {}},
		"storageClasses": classes,
	},
}

violations(r) := vs if {
	vs := volume_topology.violation with input as r with data.bailiff.config as cfg
}

test_restricted_storage_class_passes if {
	count(violations(claim({"labels": pii}, {"storageClassName": "eu"}, {"eu": eu_only}))) == 0
	count(violations(claim({"labels": pii}, {"storageClassName": "eu"}, {"eu": storage_class([
		regions_term(["eu-west-1"]),
		{"matchLabelExpressions": [
			{"key": "topology.kubernetes.io/zone", "values": ["eu-central-1a"]},
			{"key": region, "values": ["eu-central-1"]},
		]},
	])}))) == 0
}

test_unrestricted_storage_class_is_denied if {
	vs := violations(claim({"labels": pii}, {"storageClassName": "gp3"}, {"gp3": anywhere}))
	count(vs) == 1
	some v in vs
	v.field == "spec.storageClassName"
	not v.enforcement
	v.msg == `PersistentVolumeClaim "data" holds data class "pii" (from its bailiff.io/data-class label), which may only be stored in eu-west-1, eu-central-1, but StorageClass "gp3" (spec.storageClassName) has no allowedTopologies, so its volumes may be created in any region; use a StorageClass whose allowedTopologies restrict topology.kubernetes.io/region to those regions`
	v.details == {"dataClass": "pii", "allowedRegions": ["eu-west-1", "eu-central-1"], "storageClass": "gp3"}
}

test_topology_allowing_other_regions_is_denied if {
	some v in violations(claim({"labels": pii}, {"storageClassName": "wide"}, {"wide": storage_class([regions_term(["eu-west-1", "us-east-1"])])}))
	contains(v.msg, `StorageClass "wide" (spec.storageClassName) allows topology.kubernetes.io/region in [eu-west-1, us-east-1];`)
}

test_every_topology_term_must_restrict_the_region if {
	some v in violations(claim({"labels": pii}, {"storageClassName": "zoned"}, {"zoned": storage_class([
		regions_term(["eu-west-1"]),
		{"matchLabelExpressions": [{"key": "topology.kubernetes.io/zone", "values": ["us-east-1a"]}]},
	])}))
	contains(v.msg, "allows topology.kubernetes.io/region in [eu-west-1] or a topology with no topology.kubernetes.io/region restriction")
}

test_empty_values_and_legacy_label_do_not_restrict if {
	count(violations(claim({"labels": pii}, {"storageClassName": "e"}, {"e": storage_class([regions_term([])])}))) == 1
	count(violations(claim({"labels": pii}, {"storageClassName": "legacy"}, {"legacy": storage_class([{"matchLabelExpressions": [{
		"key": "failure-domain.beta.kubernetes.io/region",
		"values": ["eu-west-1"],
	}]}])}))) == 1
}

test_class_from_the_namespace if {
	r := json.patch(claim({}, {"storageClassName": "gp3"}, {"gp3": anywhere}), [{"op": "add", "path": "/context/namespace/labels", "value": pii}])
	some v in violations(r)
	contains(v.msg, `data class "pii" (from namespace "payments")`)
}

test_claims_without_a_class_are_not_checked if {
	count(violations(claim({"labels": {"app": "db"}}, {"storageClassName": "gp3"}, {"gp3": anywhere}))) == 0
}

test_unknown_data_classes_are_left_to_BLF_GEO_005 if {
	count(violations(claim({"labels": {"bailiff.io/data-class": "secret"}}, {"storageClassName": "gp3"}, {"gp3": anywhere}))) == 0
}

test_default_storage_class_is_used_when_none_is_named if {
	some v in violations(claim({"labels": pii}, {}, {"eu": eu_only, "standard": default_class("standard", "2024-01-01T00:00:00Z", null)}))
	contains(v.msg, `StorageClass "standard" (the cluster's default StorageClass) has no allowedTopologies`)
	v.field == "spec.storageClassName"
	count(violations(claim({"labels": pii}, {}, {"eu": default_class("eu", "2024-01-01T00:00:00Z", [regions_term(["eu-west-1"])])}))) == 0
}

test_the_newest_default_storage_class_wins if {
	classes := {
		"old": default_class("old", "2023-01-01T00:00:00Z", null),
		"new": default_class("new", "2024-06-01T00:00:00Z", [regions_term(["eu-central-1"])]),
	}
	count(violations(claim({"labels": pii}, {}, classes))) == 0
	some v in violations(claim({"labels": pii}, {}, json.patch(classes, [{"op": "replace", "path": "/old/metadata/creationTimestamp", "value": "2025-01-01T00:00:00Z"}])))
	v.details.storageClass == "old"
}

test_a_default_storage_class_without_a_creation_time_is_the_oldest if {
	classes := {
		"undated": json.patch(default_class("undated", "", null), [{"op": "remove", "path": "/metadata/creationTimestamp"}]),
		"dated": default_class("dated", "2020-01-01T00:00:00Z", [regions_term(["eu-west-1"])]),
	}
	count(violations(claim({"labels": pii}, {}, classes))) == 0
	some v in violations(claim({"labels": pii}, {}, {"undated": classes.undated}))
	v.details.storageClass == "undated"
	some w in violations(claim({"labels": pii}, {}, {"garbled": default_class("garbled", "yesterday", null)}))
	w.details.storageClass == "garbled"
}

test_default_storage_classes_of_the_same_age_are_taken_by_name if {
	classes := {
		"b": default_class("b", "2024-01-01T00:00:00Z", [regions_term(["eu-central-1"])]),
		"a": default_class("a", "2024-01-01T00:00:00Z", null),
	}
	some v in violations(claim({"labels": pii}, {}, classes))
	v.details.storageClass == "a"
}

test_the_beta_annotation_wins_over_storage_class_name if {
	some v in violations(claim(
		{"labels": pii, "annotations": {"volume.beta.kubernetes.io/storage-class": "gp3"}},
		{"storageClassName": "eu"},
		{"eu": eu_only, "gp3": anywhere},
	))
	v.field == `metadata.annotations["volume.beta.kubernetes.io/storage-class"]`
	v.details.storageClass == "gp3"
}

test_unknown_storage_class_warns_that_it_cannot_be_verified if {
	vs := violations(claim({"labels": pii}, {"storageClassName": "fast"}, {"eu": eu_only}))
	count(vs) == 1
	some v in vs
	v.enforcement == "warn"
	contains(v.msg, `StorageClass "fast" (spec.storageClassName) is not known to Bailiff, so where its volumes live cannot be verified`)
}

test_storage_classes_not_known_at_all_warn if {
	r := json.patch(claim({"labels": pii}, {"storageClassName": "fast"}, {}), [{"op": "remove", "path": "/context/storageClasses"}])
	some v in violations(r)
	v.enforcement == "warn"
}

test_no_class_and_no_default_warns if {
	vs := violations(claim({"labels": pii}, {}, {"eu": eu_only}))
	count(vs) == 1
	some v in vs
	v.enforcement == "warn"
	contains(v.msg, "names no StorageClass and no default StorageClass is known")
}

test_empty_storage_class_name_warns if {
	vs := violations(claim({"labels": pii}, {"storageClassName": ""}, {"eu": default_class("eu", "2024-01-01T00:00:00Z", [regions_term(["eu-west-1"])])}))
	count(vs) == 1
	some v in vs
	v.enforcement == "warn"
	contains(v.msg, "pre-provisioned volume")
}

test_workloads_are_not_checked if {
	count(volume_topology.violation) == 0 with input as {
		"request": {"kind": {"kind": "Pod"}, "object": {"metadata": {"labels": pii}, "spec": {"containers": []}}},
		"context": {"storageClasses": {}},
	}
		with data.bailiff.config as cfg
}
