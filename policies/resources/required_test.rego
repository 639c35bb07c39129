package bailiff.resources.required_test

import data.bailiff.resources.required

deployment(spec) := {"request": {
	"kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
	"object": {"kind": "Deployment", "spec": {"template": {"spec": spec}}},
}}

full := {
	"requests": {"cpu": "100m", "memory": "128Mi"},
	"limits": {"memory": "256Mi"},
}

cfg(require) := {"resources": {"require": require}}

test_containers_setting_every_required_value_pass if {
	count(required.violation) == 0 with input as deployment({
		"initContainers": [{"name": "setup", "resources": full}],
		"containers": [{"name": "web", "resources": full}],
	})
}

test_default_config_requires_cpu_and_memory_requests_and_a_memory_limit if {
	required.required == ["requests.cpu", "requests.memory", "limits.memory"]
}

test_container_without_resources_is_told_everything_it_misses if {
	vs := required.violation with input as deployment({"containers": [{"name": "web"}]})
	count(vs) == 1
	some v in vs
	v.field == "spec.template.spec.containers[0].resources"
	v.details.missing == ["requests.cpu", "requests.memory", "limits.memory"]
	contains(v.msg, `container "web" does not set resources requests.cpu, requests.memory, limits.memory`)
}

test_one_missing_value_is_reported_at_its_exact_path if {
	some v in required.violation with input as deployment({
		"containers": [{"name": "web", "resources": full}],
		"initContainers": [{"name": "setup", "resources": {"requests": full.requests}}],
	})
	v.field == "spec.template.spec.initContainers[0].resources.limits.memory"
	v.details.missing == ["limits.memory"]
	startswith(v.msg, `init container "setup" does not set resources limits.memory`)
}

test_one_violation_per_container if {
	vs := required.violation with input as deployment({
		"containers": [{"name": "a"}, {"name": "b", "resources": full}, {"name": "c", "resources": {}}],
		"initContainers": [{"name": "i", "resources": {"limits": {}}}],
	})
	{v.field | some v in vs} == {
		"spec.template.spec.containers[0].resources",
		"spec.template.spec.containers[2].resources",
		"spec.template.spec.initContainers[0].resources",
	}
}

test_a_limit_does_not_stand_in_for_a_missing_request if {
	some v in required.violation with input as deployment({"containers": [{"name": "web", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})
	v.details.missing == ["requests.cpu", "requests.memory"]
}

test_null_values_are_missing if {
	some v in required.violation with input as deployment({"containers": [{"name": "web", "resources": {
		"requests": {"cpu": null, "memory": "1Gi"},
		"limits": null,
	}}]})
	v.details.missing == ["requests.cpu", "limits.memory"]
}

test_ephemeral_containers_are_not_checked if {
	count(required.violation) == 0 with input as {"request": {"kind": {"kind": "Pod"}, "object": {"spec": {
		"containers": [{"name": "web", "resources": full}],
		"ephemeralContainers": [{"name": "debug"}],
	}}}}
}

test_extended_resources_and_ephemeral_storage_can_be_required if {
	some v in required.violation with input as deployment({"containers": [{"name": "train", "resources": {"limits": {"ephemeral-storage": "1Gi"}}}]})
		with data.bailiff.config as cfg(["limits.ephemeral-storage", "limits.nvidia.com/gpu"])
	v.field == `spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"]`
	v.details.missing == ["limits.nvidia.com/gpu"]
}

test_nothing_required_nothing_denied if {
	count(required.violation) == 0 with input as deployment({"containers": [{"name": "web"}]})
		with data.bailiff.config as cfg([])
}

test_malformed_required_keys_are_ignored if {
	some v in required.violation with input as deployment({"containers": [{"name": "web"}]})
		with data.bailiff.config as cfg(["limit.cpu", "requests.cpu"])
	v.details.required == ["requests.cpu"]
}

test_objects_without_pods_are_not_checked if {
	count(required.violation) == 0 with input as {"request": {"kind": {"kind": "ConfigMap"}, "object": {"data": {}}}}
}
