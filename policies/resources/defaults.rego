# METADATA
# title: Containers without resource values get the configured defaults
# description: >-
#   Fills resources.defaults ("requests.cpu": "100m", "limits.memory": "256Mi", ...) into
#   every container and init container that does not set them, so that a workload
#   written without resources is admitted with sensible ones instead of being refused by
#   BLF-RES-001. Only absent (or null) values are filled; values the container sets are
#   never changed, so mutating again changes nothing. Missing parents are added whole:
#   resources when there is none, resources.requests or resources.limits when only that
#   is missing, otherwise the single value. A default never makes a request exceed its
#   limit, which the API server would refuse: a default request above the container's
#   limit (the one it sets, or the default limit being added) is replaced by that limit,
#   the value Kubernetes itself gives a Pod's missing request; a default limit below the
#   request the container sets is replaced by that request. Ephemeral containers cannot
#   set resources and are left alone.
# scope: package
# custom:
#   id: BLF-RES-003
#   severity: low
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Resource-Policies]
#   mutates: true
package bailiff.resources.defaults

import data.bailiff.lib.k8s
import data.bailiff.resources.lib

# The configured defaults as {section: {resource: "quantity"}}; malformed keys and values
# are skipped (the config schema refuses them), and numbers become strings.
defaults := {section: values |
	some section in lib.sections
	values := {resource: lib.quantity_text(value) |
		some key, value in data.bailiff.config.resources.defaults
		parts := lib.key_parts(key)
		parts[0] == section
		resource := parts[1]
		lib.is_quantity(value)
	}
	count(values) > 0
}

# additions(container) is what the container lacks, as {section: {resource: value}}.
additions(container) := {section: values |
	some section, section_defaults in defaults
	values := {resource: value |
		some resource, default_value in section_defaults
		not lib.value(container, section, resource)
		value := fill(container, section, resource, default_value)
	}
	count(values) > 0
}

fill(container, "requests", resource, default_value) := lib.quantity_text(request_value(container, resource, default_value))

fill(container, "limits", resource, default_value) := lib.quantity_text(limit_value(container, resource, default_value))

# A request no larger than the limit the container will have.
request_value(container, resource, default_value) := limit if {
	limit := final_limit(container, resource)
	lib.above(default_value, limit)
} else := default_value

# A limit no smaller than the request the container sets.
limit_value(container, resource, default_value) := request if {
	request := lib.value(container, "requests", resource)
	lib.above(request, default_value)
} else := default_value

# The limit the container sets, else the default limit this policy adds.
final_limit(container, resource) := lib.value(container, "limits", resource)

final_limit(container, resource) := limit_value(container, resource, defaults.limits[resource]) if {
	not lib.value(container, "limits", resource)
}

# No resources at all: add them whole.
patch contains {"op": "add", "path": sprintf("%s/resources", [k8s.container_pointer(c)]), "value": adds} if {
	some c in lib.containers
	not is_object(object.get(c.container, "resources", null))
	adds := additions(c.container)
	count(adds) > 0
}

# Resources without requests (or limits): add the section whole.
patch contains {"op": "add", "path": sprintf("%s/resources/%s", [k8s.container_pointer(c), section]), "value": values} if {
	some c in lib.containers
	is_object(c.container.resources)
	some section, values in additions(c.container)
	not is_object(object.get(c.container.resources, section, null))
}

# The section exists: add each missing value.
patch contains p if {
	some c in lib.containers
	some section, values in additions(c.container)
	is_object(c.container.resources[section])
	some resource, value in values
	p := {
		"op": "add",
		"path": sprintf("%s/resources/%s/%s", [k8s.container_pointer(c), section, lib.pointer_token(resource)]),
		"value": value,
	}
}
