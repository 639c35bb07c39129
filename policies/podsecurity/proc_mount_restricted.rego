# METADATA
# title: Containers keep the default /proc masks, even in a user namespace
# description: >-
#   Pod Security Standards (restricted), upstream check procMount_restricted. Like the
#   baseline procMount check (BLF-PSS-008), but without its user namespace relaxation:
#   securityContext.procMount of every container (init and ephemeral included) must be
#   unset or "Default", whatever spec.hostUsers says.
# scope: package
# custom:
#   id: BLF-PSS-015
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-restricted, CIS-5.7.3, NSA-Pod-Security]
#   pss: {level: restricted, check: procMount_restricted}
package bailiff.podsecurity.proc_mount_restricted

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

violation contains pss.finding(check, v) if {
	k8s.container_security_fields.procMount
	some c in k8s.containers
	proc_mount := c.container.securityContext.procMount
	not proc_mount in {null, "Default"}
	v := {
		"msg": sprintf("%s sets securityContext.procMount to %q; allowed: \"Default\" or unset", [k8s.container_label(c), proc_mount]),
		"field": sprintf("%s.securityContext.procMount", [k8s.container_field(c)]),
		"details": {"container": c.container.name, "procMount": proc_mount},
	}
}
