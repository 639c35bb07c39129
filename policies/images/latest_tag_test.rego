package bailiff.images.latest_tag_test

import data.bailiff.images.latest_tag

# pod builds a Pod whose containers use refs, with an images context entry per ref.
pod(containers, images) := {
	"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": containers}}},
	"context": {"images": images},
}

entry(tag, digest) := {"registry": "docker.io", "repository": "library/nginx", "tag": tag, "digest": digest}

test_latest_tag_is_denied if {
	vs := latest_tag.violation with input as pod([{"name": "web", "image": "nginx:latest"}], {"nginx:latest": entry("latest", "")})
	count(vs) == 1
	some v in vs
	v.field == "spec.containers[0].image"
	contains(v.msg, `container "web" image "nginx:latest" uses the tag "latest"`)
	contains(v.msg, "pin a version tag (e.g. nginx:1.2.3) or a digest (nginx@sha256:...)")
}

test_missing_tag_is_denied if {
	some v in latest_tag.violation with input as pod([{"name": "web", "image": "nginx"}], {"nginx": entry("", "")})
	contains(v.msg, `has no tag, which means "latest"`)
}

test_version_tag_is_allowed if {
	count(latest_tag.violation) == 0 with input as pod([{"name": "web", "image": "nginx:1.27.0"}], {"nginx:1.27.0": entry("1.27.0", "")})
}

test_digest_pins_even_latest if {
	ref := "nginx:latest@sha256:0123"
	count(latest_tag.violation) == 0 with input as pod([{"name": "web", "image": ref}], {ref: entry("latest", "sha256:0123")})
}

test_every_container_type_is_checked if {
	inp := {
		"request": {"kind": {"kind": "Deployment"}, "object": {"spec": {"template": {"spec": {
			"initContainers": [{"name": "setup", "image": "nginx"}],
			"containers": [{"name": "web", "image": "nginx:1.27.0"}],
			"ephemeralContainers": [{"name": "debug", "image": "nginx"}],
		}}}}},
		"context": {"images": {"nginx": entry("", ""), "nginx:1.27.0": entry("1.27.0", "")}},
	}
	vs := latest_tag.violation with input as inp
	{v.field | some v in vs} == {"spec.template.spec.initContainers[0].image", "spec.template.spec.ephemeralContainers[0].image"}
}

test_unparsable_reference_is_left_to_blf_img_006 if {
	count(latest_tag.violation) == 0 with input as pod([{"name": "web", "image": "NGINX"}], {"NGINX": {"error": "repository name must be lowercase"}})
}
