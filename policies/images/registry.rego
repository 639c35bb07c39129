# METADATA
# title: Images come from approved registries
# description: >-
#   Every container image must come from a registry in images.allowedRegistries: a host
#   ("registry.example.com") or a host/path prefix ("ghcr.io/acme"), matched on whole
#   path segments, so "registry.example.com.evil.io" and "ghcr.io/acme-evil" do not pass.
#   An empty list allows every registry.
# scope: package
# custom:
#   id: BLF-IMG-001
#   severity: high
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Supply-Chain, CIS-5.7.1]
package bailiff.images.registry

import data.bailiff.lib.k8s

allowed := data.bailiff.config.images.allowedRegistries

violation contains v if {
	count(allowed) > 0
	some c in k8s.containers
	ref := c.container.image
	image := input.context.images[ref]
	not image.error
	not approved(image)
	v := {
		"msg": sprintf("%s uses image %q from %s, which is not an approved registry (approved: %s)", [
			k8s.container_label(c), ref, image.registry, concat(", ", allowed),
		]),
		"field": sprintf("%s.image", [k8s.container_field(c)]),
		"details": {"image": ref, "registry": image.registry, "allowed": allowed},
	}
}

# approved holds when the image's registry/repository equals an allowed entry or lies
# under it on a path boundary.
approved(image) if {
	full := sprintf("%s/%s", [image.registry, image.repository])
	some prefix in allowed
	under(full, prefix)
}

under(full, prefix) if full == prefix

under(full, prefix) if startswith(full, sprintf("%s/", [prefix]))
