# METADATA
# title: Images are pinned by digest
# description: >-
#   When images.requireDigest is true, every container image must be referenced by
#   digest (image@sha256:...), so that exactly the bytes that were scanned and approved
#   run, whatever happens to tags later. Off by default.
# scope: package
# custom:
#   id: BLF-IMG-003
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Supply-Chain]
package bailiff.images.digest

import data.bailiff.lib.k8s

# Whether this cluster requires digests: a constant of the configuration, which the
# engine computes once per policy set.
default required := false

required if data.bailiff.config.images.requireDigest == true

violation contains v if {
	required
	some c in k8s.containers
	ref := c.container.image
	image := input.context.images[ref]
	not image.error
	object.get(image, "digest", "") == ""
	v := {
		"msg": sprintf("%s image %q is not pinned by digest, and this cluster requires one (images.requireDigest); write it as %s@sha256:<digest> (e.g. the digest `crane digest %s` prints)", [
			k8s.container_label(c), ref, ref, ref,
		]),
		"field": sprintf("%s.image", [k8s.container_field(c)]),
		"details": {"image": ref},
	}
}
