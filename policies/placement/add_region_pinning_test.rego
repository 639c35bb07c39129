package bailiff.placement.add_region_pinning_test

import data.bailiff.placement.add_region_pinning
import data.bailiff.placement.region_pinning

cfg := {"placement": {"dataClasses": {"pii": {"regions": ["eu-west-1", "eu-central-1"]}}}}

region := "topology.kubernetes.io/region"

pin := {"key": region, "operator": "In", "values": ["eu-west-1", "eu-central-1"]}

disktype := {"key": "disktype", "operator": "In", "values": ["ssd"]}

pii := {"bailiff.io/data-class": "pii"}

review(pod_labels, spec, cluster_region) := {
	"request": {
		"kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
		"object": {"spec": {"template": {"metadata": {"labels": pod_labels}, "spec": object.union({"containers": [{"name": "web"}]}, spec)}}},
	},
	"context": {"cluster": {"region": cluster_region}, "namespace": {"name": "payments", "labels": {}}},
}

deployment(spec) := review(pii, spec, "eu-west-1")

node_affinity(na) := {"affinity": {"nodeAffinity": na}}

required(terms) := node_affinity({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}})

preferred := [{"weight": 50, "preference": {"matchExpressions": [disktype]}}]

terms_pointer := "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"

patches(r) := ps if {
	ps := add_region_pinning.patch with input as r with data.bailiff.config as cfg
}

# The review with its object mutated by the policy's patches.
mutated(r) := json.patch(r, [{"op": "add", "path": sprintf("/request/object%s", [p.path]), "value": p.value} |
	some p in patches(r)
	p.op == "add"
])

# Mutating once pins the pods: mutating again adds nothing and BLF-GEO-001 passes.
settles(r) if {
	count(patches(r)) > 0
	count(region_pinning.violation) > 0 with input as r with data.bailiff.config as cfg
	again := mutated(r)
	count(patches(again)) == 0
	count(region_pinning.violation) == 0 with input as again with data.bailiff.config as cfg
}

test_no_affinity_gets_one_whole if {
	patches(deployment({})) == {{
		"op": "add",
		"path": "/spec/template/spec/affinity",
		"value": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [pin]}]}}},
	}}
}

test_other_affinities_are_kept_and_node_affinity_added if {
	patches(deployment({"affinity": {"podAntiAffinity": {}}})) == {{
		"op": "add",
		"path": "/spec/template/spec/affinity/nodeAffinity",
		"value": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [pin]}]}},
	}}
}

test_preferred_node_affinity_is_kept_and_required_added if {
	patches(deployment(node_affinity({"preferredDuringSchedulingIgnoredDuringExecution": preferred}))) == {{
		"op": "add",
		"path": "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution",
		"value": {"nodeSelectorTerms": [{"matchExpressions": [pin]}]},
	}}
}

test_empty_terms_are_replaced if {
	patches(deployment(required([]))) == {{"op": "add", "path": terms_pointer, "value": [{"matchExpressions": [pin]}]}}
	patches(deployment(node_affinity({"requiredDuringSchedulingIgnoredDuringExecution": {}}))) == {{
		"op": "add",
		"path": terms_pointer,
		"value": [{"matchExpressions": [pin]}],
	}}
}

test_each_term_that_does_not_pin_gets_the_expression if {
	patches(deployment(required([
		{"matchExpressions": [pin]},
		{"matchExpressions": [disktype]},
		{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]},
		{"matchExpressions": [{"key": region, "operator": "NotIn", "values": ["us-east-1"]}]},
	]))) == {
		{"op": "add", "path": sprintf("%s/1/matchExpressions/-", [terms_pointer]), "value": pin},
		{"op": "add", "path": sprintf("%s/2/matchExpressions", [terms_pointer]), "value": [pin]},
		{"op": "add", "path": sprintf("%s/3/matchExpressions/-", [terms_pointer]), "value": pin},
	}
}

test_pinned_workloads_are_left_alone if {
	count(patches(deployment(required([{"matchExpressions": [pin]}])))) == 0
	count(patches(deployment({"nodeSelector": {region: "eu-central-1"}}))) == 0
}

test_a_wrong_node_selector_is_left_to_BLF_GEO_001 if {
	count(patches(deployment({"nodeSelector": {region: "us-east-1"}}))) == 0
}

test_no_mutation_when_the_cluster_is_outside_the_class if {
	count(patches(review(pii, {}, "us-east-1"))) == 0
	count(patches(review(pii, {}, ""))) == 0
}

test_no_mutation_without_a_known_class if {
	count(patches(review({}, {}, "eu-west-1"))) == 0
	count(patches(review({"bailiff.io/data-class": "secret"}, {}, "eu-west-1"))) == 0
}

test_pod_pointer if {
	pod := {
		"request": {"kind": {"kind": "Pod"}, "object": {"metadata": {"labels": pii}, "spec": {"containers": [{"name": "web"}]}}},
		"context": {"cluster": {"region": "eu-west-1"}},
	}
	some p in patches(pod)
	p.path == "/spec/affinity"
}

test_mutated_workloads_settle_and_are_pinned if {
	settles(deployment({}))
	settles(deployment({"affinity": {"podAffinity": {}}}))
	settles(deployment(node_affinity({"preferredDuringSchedulingIgnoredDuringExecution": preferred})))
	settles(deployment(required([])))
	settles(deployment(required([
		{"matchExpressions": [pin]},
		{"matchExpressions": [disktype]},
		{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]},
		{"matchExpressions": [{"key": region, "operator": "In", "values": ["eu-west-1", "us-east-1"]}]},
		{"matchExpressions": [{"key": region, "operator": "Exists"}]},
	])))
}

test_mutation_keeps_other_affinities if {
	r := deployment({"affinity": {
		"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname"}]},
		"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred},
	}})
	affinity := mutated(r).request.object.spec.template.spec.affinity
	affinity.podAntiAffinity == r.request.object.spec.template.spec.affinity.podAntiAffinity
	affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution == preferred
	affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms == [{"matchExpressions": [pin]}]
}
