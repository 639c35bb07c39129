package bailiff.resources.maximum_test

import data.bailiff.resources.maximum

pod(resources) := {"request": {
	"kind": {"version": "v1", "kind": "Pod"},
	"object": {"kind": "Pod", "spec": {"containers": [{"name": "web", "resources": resources}]}},
}}

deployment(spec) := {"request": {
	"kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
	"object": {"kind": "Deployment", "spec": {"template": {"spec": spec}}},
}}

cfg(max) := {"resources": {"max": max}}

limit(key, value) := {"limits": {key: value}}

request(key, value) := {"requests": {key: value}}

denied(resources, max) if {
	count(maximum.violation) == 1 with input as pod(resources) with data.bailiff.config as cfg(max)
}

allowed(resources, max) if {
	count(maximum.violation) == 0 with input as pod(resources) with data.bailiff.config as cfg(max)
}

test_value_above_the_maximum_is_denied_at_its_path if {
	some v in maximum.violation with input as deployment({
		"containers": [{"name": "web", "resources": limit("memory", "8Gi")}],
		"initContainers": [{"name": "setup", "resources": limit("memory", "32Gi")}],
	})
		with data.bailiff.config as cfg({"limits.memory": "16Gi"})
	v.field == "spec.template.spec.initContainers[0].resources.limits.memory"
	v.msg == `init container "setup" sets limits.memory to 32Gi, above the maximum of 16Gi; set it to 16Gi or less`
	v.details == {"key": "limits.memory", "value": "32Gi", "max": "16Gi"}
}

test_value_equal_to_the_maximum_is_allowed if {
	allowed(limit("memory", "16Gi"), {"limits.memory": "16Gi"})
	allowed(limit("memory", "16384Mi"), {"limits.memory": "16Gi"})
}

test_no_maximum_no_denial if {
	allowed(limit("memory", "1Ei"), {})
}

test_unset_values_are_not_this_policys_concern if {
	allowed({}, {"limits.memory": "16Gi"})
	allowed(request("memory", "64Gi"), {"limits.memory": "16Gi"})
}

test_each_bounded_value_of_each_container_is_reported if {
	vs := maximum.violation with input as deployment({"containers": [
		{"name": "a", "resources": {"requests": {"cpu": "9"}, "limits": {"cpu": "10"}}},
		{"name": "b", "resources": {"requests": {"cpu": "8"}, "limits": {"cpu": "8"}}},
	]})
		with data.bailiff.config as cfg({"requests.cpu": "8", "limits.cpu": "8"})
	{v.field | some v in vs} == {
		"spec.template.spec.containers[0].resources.requests.cpu",
		"spec.template.spec.containers[0].resources.limits.cpu",
	}
}

test_milli_cpu if {
	denied(limit("cpu", "8001m"), {"limits.cpu": "8"})
	allowed(limit("cpu", "8000m"), {"limits.cpu": "8"})
	allowed(limit("cpu", "500m"), {"limits.cpu": "0.5"})
	denied(limit("cpu", "501m"), {"limits.cpu": "0.5"})
}

test_nano_and_micro_cpu if {
	denied(limit("cpu", "500000001n"), {"limits.cpu": "500m"})
	allowed(limit("cpu", "500000u"), {"limits.cpu": "500m"})
}

test_k_is_a_thousand if {
	allowed(limit("memory", "1k"), {"limits.memory": "1000"})
	denied(limit("memory", "1Ki"), {"limits.memory": "1k"})
}

test_M_is_a_million_and_Mi_two_to_the_twenty if {
	allowed(limit("memory", "1000000"), {"limits.memory": "1M"})
	denied(limit("memory", "1Mi"), {"limits.memory": "1M"})
	allowed(limit("memory", "1M"), {"limits.memory": "1Mi"})
}

test_G_and_Gi if {
	denied(limit("memory", "1Gi"), {"limits.memory": "1G"})
	allowed(limit("memory", "1G"), {"limits.memory": "1Gi"})
	allowed(limit("memory", "1073741824"), {"limits.memory": "1Gi"})
	denied(limit("memory", "1073741825"), {"limits.memory": "1Gi"})
}

test_E_is_an_exa_suffix_but_E3_an_exponent if {
	denied(limit("memory", "1E"), {"limits.memory": "1P"})
	allowed(limit("memory", "1E3"), {"limits.memory": "1k"})
	denied(limit("memory", "1Ei"), {"limits.memory": "1E"})
}

test_exponents if {
	allowed(limit("cpu", "8e0"), {"limits.cpu": "8"})
	denied(limit("cpu", "1e1"), {"limits.cpu": "8"})
	allowed(limit("memory", "1.6e10"), {"limits.memory": "16G"})
	denied(limit("memory", "1.6e10"), {"limits.memory": "14Gi"})
}

test_numbers_written_without_quotes if {
	denied(limit("cpu", 9), {"limits.cpu": "8"})
	allowed(limit("cpu", 0.5), {"limits.cpu": 1})
}

test_huge_values_are_still_above_the_maximum if {
	denied(limit("memory", "1e100"), {"limits.memory": "16Gi"})
}

test_a_value_that_is_not_a_quantity_is_refused if {
	some v in maximum.violation with input as pod(limit("memory", "16GB")) with data.bailiff.config as cfg({"limits.memory": "16Gi"})
	v.field == "spec.containers[0].resources.limits.memory"
	v.msg == `container "web" sets limits.memory to "16GB", which is not a Kubernetes quantity (such as 500m, 2, 1.5Gi), so it cannot be checked against the maximum of 16Gi`
}

test_a_value_that_is_not_even_a_string_is_refused if {
	some v in maximum.violation with input as pod(limit("memory", {"size": 16})) with data.bailiff.config as cfg({"limits.memory": "16Gi"})
	contains(v.msg, `sets limits.memory to {"size": 16}, which is not a Kubernetes quantity`)
}

test_an_exponent_kubernetes_would_truncate_is_refused if {
	denied(limit("cpu", "1e-4294967289"), {"limits.cpu": "8"})
}

test_extended_resource_field_is_quoted if {
	some v in maximum.violation with input as pod(limit("nvidia.com/gpu", "4")) with data.bailiff.config as cfg({"limits.nvidia.com/gpu": "2"})
	v.field == `spec.containers[0].resources.limits["nvidia.com/gpu"]`
}

test_malformed_bounds_are_skipped if {
	allowed(limit("cpu", "100"), {"limit.cpu": "1", "limits.cpu": "lots"})
}

test_ephemeral_containers_are_not_checked if {
	count(maximum.violation) == 0 with input as {"request": {"kind": {"kind": "Pod"}, "object": {"spec": {
		"containers": [],
		"ephemeralContainers": [{"name": "debug", "resources": limit("cpu", "100")}],
	}}}}
		with data.bailiff.config as cfg({"limits.cpu": "1"})
}
