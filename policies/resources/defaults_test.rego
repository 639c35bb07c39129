package bailiff.resources.defaults_test

import data.bailiff.resources.defaults
import data.bailiff.resources.required

deployment(spec) := {"request": {
	"kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
	"object": {"kind": "Deployment", "spec": {"template": {"spec": spec}}},
}}

pod(spec) := {"request": {"kind": {"version": "v1", "kind": "Pod"}, "object": {"kind": "Pod", "spec": spec}}}

standard := {
	"requests.cpu": "100m",
	"requests.memory": "128Mi",
	"limits.memory": "256Mi",
}

cfg(values) := {"resources": {"defaults": values, "require": object.keys(values)}}

patches(review, values) := ps if {
	ps := defaults.patch with input as review with data.bailiff.config as cfg(values)
}

# mutated(review, values) is the object after applying the policy's patches.
mutated(review, values) := json.patch(review.request.object, [p | some p in patches(review, values)])

resubmitted(review, obj) := json.patch(review, [{"op": "replace", "path": "/request/object", "value": obj}])

# Applying the patches gives an object that yields no more patches and sets every default.
settles(review, values) if {
	count(patches(review, values)) > 0
	again := resubmitted(review, mutated(review, values))
	count(defaults.patch) == 0 with input as again with data.bailiff.config as cfg(values)
	count(required.violation) == 0 with input as again with data.bailiff.config as cfg(values)
}

test_container_without_resources_gets_them_whole if {
	patches(deployment({"containers": [{"name": "web"}]}), standard) == {{
		"op": "add",
		"path": "/spec/template/spec/containers/0/resources",
		"value": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
	}}
}

test_missing_section_is_added_whole if {
	patches(deployment({"containers": [{"name": "web", "resources": {"limits": {"memory": "512Mi"}}}]}), standard) == {{
		"op": "add",
		"path": "/spec/template/spec/containers/0/resources/requests",
		"value": {"cpu": "100m", "memory": "128Mi"},
	}}
}

test_missing_values_are_added_one_by_one if {
	patches(deployment({"containers": [{"name": "web", "resources": {"requests": {"cpu": "1"}, "limits": {}}}]}), standard) == {
		{"op": "add", "path": "/spec/template/spec/containers/0/resources/requests/memory", "value": "128Mi"},
		{"op": "add", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "256Mi"},
	}
}

test_set_values_are_never_changed if {
	count(patches(
		deployment({"containers": [{"name": "web", "resources": {
			"requests": {"cpu": "2", "memory": "1Gi"},
			"limits": {"memory": "2Gi"},
		}}]}),
		standard,
	)) == 0
}

test_init_containers_are_defaulted_and_ephemeral_containers_are_not if {
	ps := patches(
		pod({
			"containers": [{"name": "web", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}}],
			"initContainers": [{"name": "setup"}],
			"ephemeralContainers": [{"name": "debug"}],
		}),
		standard,
	)
	{p.path | some p in ps} == {"/spec/initContainers/0/resources"}
}

test_null_values_and_sections_are_filled if {
	patches(deployment({"containers": [{"name": "web", "resources": {"requests": null, "limits": {"memory": null}}}]}), standard) == {
		{"op": "add", "path": "/spec/template/spec/containers/0/resources/requests", "value": {"cpu": "100m", "memory": "128Mi"}},
		{"op": "add", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "256Mi"},
	}
}

test_no_defaults_no_patches if {
	count(patches(deployment({"containers": [{"name": "web"}]}), {})) == 0
}

test_default_request_never_exceeds_the_containers_limit if {
	ps := patches(deployment({"containers": [{"name": "web", "resources": {"limits": {"cpu": "50m", "memory": "1Gi"}}}]}), {
		"requests.cpu": "100m",
		"requests.memory": "128Mi",
	})
	ps == {{
		"op": "add",
		"path": "/spec/template/spec/containers/0/resources/requests",
		"value": {"cpu": "50m", "memory": "128Mi"},
	}}
}

test_default_request_never_exceeds_the_default_limit if {
	ps := patches(deployment({"containers": [{"name": "web"}]}), {"requests.memory": "1Gi", "limits.memory": "512Mi"})
	some p in ps
	p.value == {"requests": {"memory": "512Mi"}, "limits": {"memory": "512Mi"}}
}

test_default_limit_never_falls_below_the_containers_request if {
	ps := patches(deployment({"containers": [{"name": "web", "resources": {"requests": {"memory": "1Gi"}}}]}), standard)
	{"op": "add", "path": "/spec/template/spec/containers/0/resources/limits", "value": {"memory": "1Gi"}} in ps
}

test_resource_names_are_escaped_in_pointers if {
	ps := patches(deployment({"containers": [{"name": "train", "resources": {"limits": {"cpu": "1"}}}]}), {"limits.nvidia.com/gpu": "1"})
	ps == {{"op": "add", "path": "/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu", "value": "1"}}
}

test_numeric_and_malformed_defaults if {
	ps := patches(deployment({"containers": [{"name": "web"}]}), {"requests.cpu": 1, "limits.cpu": "lots", "limit.memory": "1Gi"})
	ps == {{"op": "add", "path": "/spec/template/spec/containers/0/resources", "value": {"requests": {"cpu": "1"}}}}
}

test_cronjob_pointer if {
	cron := {"request": {"kind": {"kind": "CronJob"}, "object": {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job"}]}}}}}}}}
	some p in patches(cron, standard)
	p.path == "/spec/jobTemplate/spec/template/spec/containers/0/resources"
}

test_patched_objects_settle_and_satisfy_the_required_values if {
	settles(deployment({"containers": [{"name": "web"}], "initContainers": [{"name": "setup"}]}), standard)
	settles(deployment({"containers": [{"name": "web", "resources": {}}]}), standard)
	settles(deployment({"containers": [{"name": "web", "resources": {"requests": {"cpu": "1"}}}]}), standard)
	settles(deployment({"containers": [{"name": "web", "resources": {"requests": null, "limits": {"memory": null}}}]}), standard)
	settles(deployment({"containers": [{"name": "web", "resources": {"limits": {"cpu": "50m"}}}]}), {
		"requests.cpu": "100m", "limits.cpu": "1", "limits.nvidia.com/gpu": "1",
	})
	settles(pod({"containers": [{"name": "a"}, {"name": "b", "resources": {"limits": {"memory": "64Mi"}}}]}), standard)
}

test_patched_requests_stay_within_limits if {
	review := deployment({"containers": [
		{"name": "a", "resources": {"limits": {"cpu": "50m"}}},
		{"name": "b", "resources": {"requests": {"memory": "4Gi"}}},
		{"name": "c"},
	]})
	d := {"requests.cpu": "100m", "limits.cpu": "80m", "requests.memory": "1Gi", "limits.memory": "2Gi"}
	obj := mutated(review, d)
	every container in obj.spec.template.spec.containers {
		not data.bailiff.resources.lib.above(container.resources.requests.cpu, container.resources.limits.cpu)
		not data.bailiff.resources.lib.above(container.resources.requests.memory, container.resources.limits.memory)
	}
}
