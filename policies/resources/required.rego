# METADATA
# title: Containers set the required resource requests and limits
# description: >-
#   Every container and init container must set each request and limit listed in
#   resources.require ("requests.cpu", "requests.memory", "limits.memory",
#   "requests.ephemeral-storage", "limits.nvidia.com/gpu", ...), so the scheduler can place
#   the pod and one workload cannot starve its neighbours. Ephemeral containers are not
#   checked: Kubernetes does not let them set resources. A value set to null counts as
#   missing. Kubernetes copies a limit into a missing request only when it creates the Pod,
#   so a Deployment must still write the request. To comply, set the listed keys under
#   resources in every container, or let BLF-RES-003 fill them from resources.defaults.
# scope: package
# custom:
#   id: BLF-RES-001
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Resource-Policies]
#   mutates: false
package bailiff.resources.required

import data.bailiff.lib.k8s
import data.bailiff.resources.lib

# The required keys that are well formed ("<requests|limits>.<resource>"), in config order.
required := [key | some [key, _] in required_paths]

# The same keys with the path of their value in a container, ["resources", section,
# resource]: keys are split once per evaluation, not once per container.
required_paths := [[key, ["resources", section, resource]] |
	some key in data.bailiff.config.resources.require
	[section, resource] := lib.key_parts(key)
]

# A value that is absent, null (or false) is missing, as lib.value has it. One object.get
# per container and key is the cheapest test of that; the list of what is missing is
# built only for a container that misses something.
violation contains v if {
	some c in lib.containers
	some [_, path] in required_paths
	object.get(c.container, path, null) in {null, false}
	missing := [key |
		some [key, p] in required_paths
		object.get(c.container, p, null) in {null, false}
	]
	v := {
		"msg": sprintf("%s does not set resources %s; every container must set %s", [
			k8s.container_label(c), concat(", ", missing), concat(", ", required),
		]),
		"field": missing_field(c, missing),
		"details": {"missing": missing, "required": required},
	}
}

# The exact path of the one missing value, or the container's resources when several are.
missing_field(c, missing) := sprintf("%s.resources.%s", [k8s.container_field(c), lib.field_key(section, resource)]) if {
	count(missing) == 1
	[section, resource] := lib.key_parts(missing[0])
}

missing_field(c, missing) := sprintf("%s.resources", [k8s.container_field(c)]) if count(missing) > 1
