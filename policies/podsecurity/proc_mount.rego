# METADATA
# title: Containers keep the default /proc masks
# description: >-
#   Pod Security Standards (baseline), upstream check procMount. The container runtime masks
#   parts of /proc that reveal or change the node. A container (init and ephemeral
#   included) may set securityContext.procMount only to "Default", unless the pod runs in
#   its own user namespace (spec.hostUsers: false), where any value is allowed.
# scope: package
# custom:
#   id: BLF-PSS-008
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.7.3, NSA-Pod-Security]
#   pss: {level: baseline, check: procMount}
package bailiff.podsecurity.proc_mount

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

violation contains pss.finding(check, v) if {
	k8s.container_security_fields.procMount
	some c in k8s.containers
	proc_mount := c.container.securityContext.procMount
	not proc_mount in {null, "Default"}
	not pss.user_namespace
	v := {
		"msg": sprintf("%s sets securityContext.procMount to %q; allowed: \"Default\" or unset (other values only in a pod with hostUsers: false)", [
			k8s.container_label(c), proc_mount,
		]),
		"field": sprintf("%s.securityContext.procMount", [k8s.container_field(c)]),
		"details": {"container": c.container.name, "procMount": proc_mount},
	}
}
