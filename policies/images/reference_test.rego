package bailiff.images.reference_test

import data.bailiff.images.reference

pod(containers, images) := {
	"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": containers}}},
	"context": {"images": images},
}

test_unparsable_reference_is_denied if {
	vs := reference.violation with input as pod(
		[{"name": "ok", "image": "nginx:1.27"}, {"name": "web", "image": "Nginx:1.27"}],
		{
			"nginx:1.27": {"registry": "docker.io", "repository": "library/nginx", "tag": "1.27", "digest": ""},
			"Nginx:1.27": {"reference": "Nginx:1.27", "error": "repository name must be lowercase"},
		},
	)
	count(vs) == 1
	some v in vs
	v.field == "spec.containers[1].image"
	contains(v.msg, `container "web" image "Nginx:1.27" is not a valid image reference (repository name must be lowercase)`)
}

test_ephemeral_containers_are_checked if {
	inp := {
		"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [], "ephemeralContainers": [{"name": "debug", "image": "busybox::1"}]}}},
		"context": {"images": {"busybox::1": {"error": "invalid reference format"}}},
	}
	some v in reference.violation with input as inp
	v.field == "spec.ephemeralContainers[0].image"
	startswith(v.msg, `ephemeral container "debug" image "busybox::1"`)
}

test_valid_reference_is_allowed if {
	count(reference.violation) == 0 with input as pod([{"name": "web", "image": "nginx:1.27"}], {"nginx:1.27": {"registry": "docker.io", "repository": "library/nginx", "tag": "1.27"}})
}
