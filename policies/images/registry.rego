# METADATA
# title: Images come from approved registries
# description: >-
#   Every container image must come from a registry in images.allowedRegistries: a host
#   ("registry.example.com") or a host/path prefix ("ghcr.io/acme"), matched on whole
#   path segments, so "registry.example.com.evil.io" and "ghcr.io/acme-evil" do not pass.
#   An empty list allows every registry. images.namespaceOverrides replaces the list
#   inside the namespaces it names (e.g. a sandbox allowed to pull from Docker Hub).
# scope: package
# custom:
#   id: BLF-IMG-001
#   severity: high
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Supply-Chain, CIS-5.5.1]
package bailiff.images.registry

import data.bailiff.lib.k8s

# table(list) is an allowlist ready for matching: the entries as written, as a set (an
# image whose registry is one of them is approved without building its full name), and
# each with a slash appended ("registry/repository/" starts with "entry/" exactly when
# the image equals the entry or lies under it on a path boundary).
table(list) := {
	"list": list,
	"set": {prefix | some prefix in list},
	"prefixes": [concat("", [prefix, "/"]) | some prefix in list],
}

# The cluster-wide table and one per overridden namespace: constants of the
# configuration, which the engine computes once per policy set.
cluster_table := table(data.bailiff.config.images.allowedRegistries)

namespace_tables := {ns: table(o.allowedRegistries) |
	some ns, o in object.get(data.bailiff.config.images, "namespaceOverrides", {})
}

# The table in force for the object's namespace.
active := t if {
	t := namespace_tables[input.request.namespace]
} else := cluster_table

allowed := active.list

violation contains v if {
	some c in k8s.containers
	ref := c.container.image
	image := input.context.images[ref]
	not active.set[image.registry]
	count(allowed) > 0
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
	name := concat("", [image.registry, "/", image.repository, "/"])
	some prefix in active.prefixes
	startswith(name, prefix)
}
