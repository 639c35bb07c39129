# METADATA
# title: Containers do not run as user 0
# description: >-
#   Pod Security Standards (restricted), upstream check runAsUser. securityContext.runAsUser
#   of the pod and of every container (init and ephemeral included) must be unset or
#   non-zero: user 0 is root. Pods in their own user namespace (spec.hostUsers: false) are
#   exempt: root there is not root on the node.
# scope: package
# custom:
#   id: BLF-PSS-018
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-restricted, CIS-5.2.7, NSA-Pod-Security]
#   pss: {level: restricted, check: runAsUser}
package bailiff.podsecurity.run_as_user

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

violation contains pss.finding(check, v) if {
	k8s.pod_spec.securityContext.runAsUser == 0
	not pss.user_namespace
	v := {
		"msg": "the pod sets securityContext.runAsUser to 0 (root); use a non-zero user id",
		"field": pss.pod_field("securityContext.runAsUser"),
		"details": {},
	}
}

violation contains pss.finding(check, v) if {
	k8s.container_security_fields.runAsUser
	some c in k8s.containers
	c.container.securityContext.runAsUser == 0
	not pss.user_namespace
	v := {
		"msg": sprintf("%s sets securityContext.runAsUser to 0 (root); use a non-zero user id", [k8s.container_label(c)]),
		"field": sprintf("%s.securityContext.runAsUser", [k8s.container_field(c)]),
		"details": {"container": c.container.name},
	}
}
