# METADATA
# title: Image references are valid
# description: >-
#   Every container image must be a reference that parses:
#   [registry/]repository[:tag][@sha256:digest], repository in lower case. A reference
#   that does not parse cannot be pulled, and none of the other image policies can judge
#   it, so it is refused here with the parse error.
# scope: package
# custom:
#   id: BLF-IMG-006
#   severity: high
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Supply-Chain]
package bailiff.images.reference

import data.bailiff.lib.k8s

violation contains v if {
	some c in k8s.containers
	ref := c.container.image
	error := input.context.images[ref].error
	v := {
		"msg": sprintf("%s image %q is not a valid image reference (%s); write it as [registry/]repository[:tag][@sha256:digest] in lower case, e.g. registry.example.com/team/app:1.4.2", [
			k8s.container_label(c), ref, error,
		]),
		"field": sprintf("%s.image", [k8s.container_field(c)]),
		"details": {"image": ref, "error": error},
	}
}
