# METADATA
# title: Container resources stay within the configured maximums
# description: >-
#   No container or init container may request or be limited to more than
#   resources.max allows for that key ("limits.memory": "16Gi", "requests.cpu": "8").
#   Values are compared as Kubernetes compares quantities, exactly: "1Gi" is 1073741824
#   bytes and more than "1G", "500m" is half a unit, "1e3" is 1000, "1E" is 10^18. A value
#   that is not a Kubernetes quantity cannot be compared and is refused too. A value that
#   is not set is BLF-RES-001's concern, not this policy's. Ephemeral containers cannot
#   set resources and are not checked. To comply, lower the value to the maximum or below.
# scope: package
# custom:
#   id: BLF-RES-002
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Resource-Policies]
#   mutates: false
package bailiff.resources.maximum

import data.bailiff.lib.k8s
import data.bailiff.resources.lib

# Each bounded value as {key, section, resource, max, nano}; keys or bounds that are malformed
# are skipped (the config schema refuses them).
bounds := {{"key": key, "section": section, "resource": resource, "max": bound, "nano": n} |
	some key, bound in data.bailiff.config.resources.max
	[section, resource] := lib.key_parts(key)
	n := lib.nano(bound)
}

# A value above its bound, or one that is not a quantity. lib.nano remembers each value it
# has parsed, so containers setting the same value cost one parse; the parsed list is built
# only for a violation.
violation contains v if {
	some c in lib.containers
	some b in bounds
	value := c.container.resources[b.section][b.resource]
	value != null
	not within(value, b.nano)
	v := finding(c, b, value, [n | n := lib.nano(value)])
}

# within(value, bound) holds when the quantity value is at most bound nano-units.
within(value, bound) if lib.nano(value) <= bound

# finding(c, b, value, parsed) is the violation for a value above its bound ([n] is the
# value in nano-units) or for one that is not a quantity (parsed is []).
finding(c, b, value, [n]) := {
	"msg": sprintf("%s sets %s to %s, above the maximum of %s; set it to %s or less", [
		k8s.container_label(c), b.key, lib.quantity_text(value), lib.quantity_text(b.max), lib.quantity_text(b.max),
	]),
	"field": sprintf("%s.resources.%s", [k8s.container_field(c), lib.field_key(b.section, b.resource)]),
	"details": {"key": b.key, "value": value, "max": b.max},
} if {
	n > b.nano
}

finding(c, b, value, []) := {
	"msg": sprintf("%s sets %s to %s, which is not a Kubernetes quantity (such as 500m, 2, 1.5Gi), so it cannot be checked against the maximum of %s", [
		k8s.container_label(c), b.key, shown(value), lib.quantity_text(b.max),
	]),
	"field": sprintf("%s.resources.%s", [k8s.container_field(c), lib.field_key(b.section, b.resource)]),
	"details": {"key": b.key, "value": value, "max": b.max},
}

# shown(value) is a value that is not a quantity, as it appears in a message.
shown(value) := sprintf("%q", [value]) if is_string(value)

shown(value) := sprintf("%v", [value]) if not is_string(value)
