package bailiff.images.digest_test

import data.bailiff.images.digest

pod(ref, entry) := {
	"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"initContainers": [{"name": "setup", "image": ref}]}}},
	"context": {"images": {ref: entry}},
}

tagged := {"registry": "ghcr.io", "repository": "acme/api", "tag": "2.1", "digest": ""}

test_tag_without_digest_is_denied_when_required if {
	vs := digest.violation with input as pod("ghcr.io/acme/api:2.1", tagged)
		with data.bailiff.config.images.requireDigest as true
	count(vs) == 1
	some v in vs
	v.field == "spec.initContainers[0].image"
	contains(v.msg, `init container "setup" image "ghcr.io/acme/api:2.1" is not pinned by digest`)
	contains(v.msg, "ghcr.io/acme/api:2.1@sha256:<digest>")
}

test_digest_is_allowed_when_required if {
	ref := "ghcr.io/acme/api:2.1@sha256:abcd"
	count(digest.violation) == 0 with input as pod(ref, object.union(tagged, {"digest": "sha256:abcd"}))
		with data.bailiff.config.images.requireDigest as true
}

test_nothing_is_required_by_default if {
	count(digest.violation) == 0 with input as pod("ghcr.io/acme/api:2.1", tagged)
}

test_unparsable_reference_is_left_to_blf_img_006 if {
	count(digest.violation) == 0 with input as pod("ghcr.io/acme/API", {"error": "invalid reference format"})
		with data.bailiff.config.images.requireDigest as true
}
