# METADATA
# title: Containers are not privileged
# description: >-
#   Pod Security Standards (baseline), upstream check privileged. A privileged container
#   has every capability and every device of the node; it is root on the node. No
#   container (init and ephemeral included) may set securityContext.privileged to true.
# scope: package
# custom:
#   id: BLF-PSS-007
#   severity: critical
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.2.2, NSA-Pod-Security]
#   pss: {level: baseline, check: privileged}
package bailiff.podsecurity.privileged

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

violation contains pss.finding(check, v) if {
	k8s.container_security_fields.privileged
	some c in k8s.containers
	c.container.securityContext.privileged == true
	v := {
		"msg": sprintf("%s is privileged (securityContext.privileged: true); remove it or set it to false, and add only the capabilities it needs", [k8s.container_label(c)]),
		"field": sprintf("%s.securityContext.privileged", [k8s.container_field(c)]),
		"details": {"container": c.container.name},
	}
}
