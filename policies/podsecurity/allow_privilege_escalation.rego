# METADATA
# title: Containers forbid privilege escalation
# description: >-
#   Pod Security Standards (restricted), upstream check allowPrivilegeEscalation. Unless a
#   container sets securityContext.allowPrivilegeEscalation to false, a process in it can
#   gain more privileges than its parent, through set-user-ID binaries for instance. Every
#   container (init and ephemeral included) must set it to false. Windows pods
#   (spec.os.name: windows) are exempt: the field does not exist there.
# scope: package
# custom:
#   id: BLF-PSS-013
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-restricted, CIS-5.2.6, NSA-Pod-Security]
#   pss: {level: restricted, check: allowPrivilegeEscalation}
package bailiff.podsecurity.allow_privilege_escalation

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

violation contains pss.finding(check, v) if {
	some c in k8s.containers
	not c.container.securityContext.allowPrivilegeEscalation == false
	not pss.windows
	setting := object.get(c.container, ["securityContext", "allowPrivilegeEscalation"], null)
	v := {
		"msg": sprintf("%s %s; set securityContext.allowPrivilegeEscalation to false", [k8s.container_label(c), problem(setting)]),
		"field": sprintf("%s.securityContext.allowPrivilegeEscalation", [k8s.container_field(c)]),
		"details": {"container": c.container.name, "allowPrivilegeEscalation": setting},
	}
}

problem(null) := "allows privilege escalation (securityContext.allowPrivilegeEscalation is unset)"

problem(setting) := sprintf("allows privilege escalation (securityContext.allowPrivilegeEscalation: %v)", [setting]) if setting != null
