package bailiff.images.pin_digest_test

import data.bailiff.images.pin_digest

digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

deployment(images) := {"request": {
	"kind": {"kind": "Deployment"},
	"object": {"spec": {"template": {"spec": {
		"initContainers": [{"name": "setup", "image": "registry.example.com/setup:1"}],
		"containers": [{"name": "app", "image": images[0]}],
	}}}},
}}

ctx(entries) := {"images": entries}

test_tags_are_rewritten_to_their_resolved_digest if {
	inp := object.union(deployment(["registry.example.com/app:2"]), {"context": ctx({
		"registry.example.com/app:2": {"digest": "", "resolved_digest": digest},
		"registry.example.com/setup:1": {"digest": "", "resolved_digest": digest},
	})})
	patches := pin_digest.patch with input as inp with data.bailiff.config.images.pinDigests as true
	patches == {
		{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": concat("@", ["registry.example.com/app:2", digest])},
		{"op": "replace", "path": "/spec/template/spec/initContainers/0/image", "value": concat("@", ["registry.example.com/setup:1", digest])},
	}
}

test_pinning_is_idempotent if {
	pinned := concat("@", ["registry.example.com/app:2", digest])
	inp := object.union(deployment([pinned]), {"context": ctx({pinned: {"digest": digest, "resolved_digest": digest}})})
	count(pin_digest.patch) == 0 with input as inp with data.bailiff.config.images.pinDigests as true
}

test_off_by_default if {
	inp := object.union(deployment(["registry.example.com/app:2"]), {"context": ctx({"registry.example.com/app:2": {"digest": "", "resolved_digest": digest}})})
	count(pin_digest.patch) == 0 with input as inp
}

test_unresolved_and_invalid_images_are_left_alone if {
	inp := object.union(deployment(["registry.example.com/app:2"]), {"context": ctx({
		"registry.example.com/app:2": {"digest": "", "resolve_error": "registry unreachable"},
		"registry.example.com/setup:1": {"error": "bad", "resolved_digest": digest},
	})})
	count(pin_digest.patch) == 0 with input as inp with data.bailiff.config.images.pinDigests as true
}
