# METADATA
# title: Containers add no capabilities beyond the default set
# description: >-
#   Pod Security Standards (baseline), upstream check capabilities_baseline. A container
#   (init and ephemeral included) may add only capabilities the container runtime grants by
#   default: AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD,
#   NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID and SYS_CHROOT, written exactly so.
#   NET_RAW, SYS_ADMIN and every other capability are refused.
# scope: package
# custom:
#   id: BLF-PSS-002
#   severity: high
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.2.8, CIS-5.2.9, NSA-Pod-Security]
#   pss: {level: baseline, check: capabilities_baseline}
package bailiff.podsecurity.capabilities_baseline

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

default_capabilities := {
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

violation contains pss.finding(check, v) if {
	some c in k8s.containers
	some i, capability in c.container.securityContext.capabilities.add
	not default_capabilities[capability]
	v := {
		"msg": sprintf("%s adds capability %q, which is not in the default set; remove it (allowed: %s)", [
			k8s.container_label(c), capability, concat(", ", sort(default_capabilities)),
		]),
		"field": sprintf("%s.securityContext.capabilities.add[%d]", [k8s.container_field(c), i]),
		"details": {"container": c.container.name, "capability": capability},
	}
}
