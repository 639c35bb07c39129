# METADATA
# title: Image tags are pinned to the digest they point at
# description: >-
#   With images.pinDigests on, every container image written as a tag is rewritten at
#   admission to repo:tag@sha256:<digest>, the digest the tag pointed at when the object
#   was admitted (input.context.images[ref].resolved_digest, which the webhook fills by
#   asking the registry). What runs can then no longer change under the same manifest,
#   and scan results follow the digest. Images already pinned, references that do not
#   parse, and tags that could not be resolved are left as written.
# scope: package
# custom:
#   id: BLF-IMG-007
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Supply-Chain]
#   mutates: true
package bailiff.images.pin_digest

import data.bailiff.lib.k8s

default enabled := false

enabled if data.bailiff.config.images.pinDigests == true

patch contains {"op": "replace", "path": concat("/", [k8s.container_pointer(c), "image"]), "value": pinned} if {
	enabled
	some c in k8s.containers
	ref := c.container.image
	image := input.context.images[ref]
	not image.error
	object.get(image, "digest", "") == ""
	resolved := object.get(image, "resolved_digest", "")
	resolved != ""
	pinned := concat("@", [ref, resolved])
}
