# METADATA
# title: SELinux options keep the container types and no custom user or role
# description: >-
#   Pod Security Standards (baseline), upstream check seLinuxOptions. A custom SELinux type,
#   user or role can lift the confinement SELinux gives containers. In
#   securityContext.seLinuxOptions of the pod and of every container (init and ephemeral
#   included), type must be unset, empty, container_t, container_init_t, container_kvm_t
#   or container_engine_t, and user and role must be unset or empty. level is not limited.
# scope: package
# custom:
#   id: BLF-PSS-009
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.7.3, NSA-Pod-Security]
#   pss: {level: baseline, check: seLinuxOptions}
package bailiff.podsecurity.selinux_options

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

allowed_types := {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

# Every seLinuxOptions set: {"options": o} for the pod's, with "container": c for a
# container's. Who set it and where are worked out only for a violation (who, field).
options := array.concat(
	[{"options": o} | o := k8s.pod_spec.securityContext.seLinuxOptions],
	[{"options": o, "container": c} |
		k8s.container_security_fields.seLinuxOptions
		some c in k8s.containers
		o := c.container.securityContext.seLinuxOptions
	],
)

# Most pods set no seLinuxOptions at all: one test settles them.
violation contains pss.finding(check, v) if {
	options[0]
	some v in findings
}

findings contains v if {
	some s in options
	type := object.get(s.options, "type", null)
	type != null
	not allowed_types[type]
	v := {
		"msg": sprintf("%s sets securityContext.seLinuxOptions.type to %q; allowed: container_t, container_init_t, container_kvm_t, container_engine_t, or unset", [who(s), type]),
		"field": sprintf("%s.type", [field(s)]),
		"details": {"type": type},
	}
}

findings contains v if {
	some s in options
	some key in ["user", "role"]
	value := object.get(s.options, key, null)
	not value in {null, ""}
	v := {
		"msg": sprintf("%s sets securityContext.seLinuxOptions.%s to %q; a custom SELinux %s is not allowed, leave it unset", [who(s), key, value, key]),
		"field": sprintf("%s.%s", [field(s), key]),
		"details": {key: value},
	}
}

who(s) := k8s.container_label(s.container) if s.container

else := "the pod"

field(s) := sprintf("%s.securityContext.seLinuxOptions", [k8s.container_field(s.container)]) if s.container

else := pss.pod_field("securityContext.seLinuxOptions")
