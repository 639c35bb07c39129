package bailiff.images.registry_test

import data.bailiff.images.registry

pod(image) := {"request": {
	"kind": {"kind": "Pod"},
	"object": {"kind": "Pod", "spec": {"containers": [{"name": "app", "image": image}]}},
}}

ctx(image, registry, repository) := {"images": {image: {"registry": registry, "repository": repository}}}

cfg(allowed) := {"images": {"allowedRegistries": allowed}}

test_image_from_approved_host_is_allowed if {
	count(registry.violation) == 0 with input as object.union(pod("registry.example.com/web:1"), {"context": ctx("registry.example.com/web:1", "registry.example.com", "web")})
		with data.bailiff.config as cfg(["registry.example.com"])
}

test_image_under_approved_path_prefix_is_allowed if {
	count(registry.violation) == 0 with input as object.union(pod("ghcr.io/acme/api:2"), {"context": ctx("ghcr.io/acme/api:2", "ghcr.io", "acme/api")})
		with data.bailiff.config as cfg(["ghcr.io/acme"])
}

test_lookalike_host_is_denied if {
	some v in registry.violation with input as object.union(pod("registry.example.com.evil.io/web:1"), {"context": ctx("registry.example.com.evil.io/web:1", "registry.example.com.evil.io", "web")})
		with data.bailiff.config as cfg(["registry.example.com"])
	v.field == "spec.containers[0].image"
	contains(v.msg, "not an approved registry")
}

test_lookalike_path_prefix_is_denied if {
	count(registry.violation) == 1 with input as object.union(pod("ghcr.io/acme-evil/api:2"), {"context": ctx("ghcr.io/acme-evil/api:2", "ghcr.io", "acme-evil/api")})
		with data.bailiff.config as cfg(["ghcr.io/acme"])
}

test_empty_allowlist_allows_everything if {
	count(registry.violation) == 0 with input as object.union(pod("docker.io/library/nginx:1"), {"context": ctx("docker.io/library/nginx:1", "docker.io", "library/nginx")})
		with data.bailiff.config as cfg([])
}

test_image_equal_to_an_approved_entry_is_allowed if {
	count(registry.violation) == 0 with input as object.union(pod("ghcr.io/acme/api:1"), {"context": ctx("ghcr.io/acme/api:1", "ghcr.io", "acme/api")})
		with data.bailiff.config as cfg(["ghcr.io/acme/api"])
	count(registry.violation) == 1 with input as object.union(pod("ghcr.io/acme/apiserver:1"), {"context": ctx("ghcr.io/acme/apiserver:1", "ghcr.io", "acme/apiserver")})
		with data.bailiff.config as cfg(["ghcr.io/acme/api"])
}

test_a_namespace_override_replaces_the_list_there if {
	hub := object.union(pod("docker.io/library/nginx:1"), {"context": ctx("docker.io/library/nginx:1", "docker.io", "library/nginx")})
	cfg := {"images": {
		"allowedRegistries": ["registry.example.com"],
		"namespaceOverrides": {"sandbox": {"allowedRegistries": ["docker.io"]}},
	}}
	count(registry.violation) == 0 with input as object.union(hub, {"request": {"namespace": "sandbox"}}) with data.bailiff.config as cfg
	count(registry.violation) == 1 with input as object.union(hub, {"request": {"namespace": "shop"}}) with data.bailiff.config as cfg
	internal := object.union(pod("registry.example.com/web:1"), {"context": ctx("registry.example.com/web:1", "registry.example.com", "web")})
	count(registry.violation) == 1 with input as object.union(internal, {"request": {"namespace": "sandbox"}}) with data.bailiff.config as cfg
}
