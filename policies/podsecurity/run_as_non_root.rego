# METADATA
# title: Containers must run as non-root users
# description: >-
#   Pod Security Standards (restricted), upstream check runAsNonRoot. The kubelet refuses
#   to start a container as root only when runAsNonRoot is true. Set
#   securityContext.runAsNonRoot: true on the pod (spec.securityContext) or on every
#   container (init and ephemeral included); neither may set it to false. Pods in their own
#   user namespace (spec.hostUsers: false) are exempt: root there is not root on the node.
# scope: package
# custom:
#   id: BLF-PSS-017
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-restricted, CIS-5.2.7, NSA-Pod-Security]
#   pss: {level: restricted, check: runAsNonRoot}
package bailiff.podsecurity.run_as_non_root

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

pod_setting := object.get(k8s.pod_spec, ["securityContext", "runAsNonRoot"], null)

violation contains pss.finding(check, v) if {
	pod_setting == false
	not pss.user_namespace
	v := {
		"msg": "the pod sets securityContext.runAsNonRoot to false; set it to true (or remove it and set it to true on every container)",
		"field": pss.pod_field("securityContext.runAsNonRoot"),
		"details": {},
	}
}

violation contains pss.finding(check, v) if {
	k8s.container_security_fields.runAsNonRoot
	some c in k8s.containers
	c.container.securityContext.runAsNonRoot == false
	not pss.user_namespace
	v := {
		"msg": sprintf("%s sets securityContext.runAsNonRoot to false; set it to true", [k8s.container_label(c)]),
		"field": sprintf("%s.securityContext.runAsNonRoot", [k8s.container_field(c)]),
		"details": {"container": c.container.name},
	}
}

violation contains pss.finding(check, v) if {
	pod_setting != true
	some c in k8s.containers
	object.get(c.container, ["securityContext", "runAsNonRoot"], null) == null
	not pss.user_namespace
	v := {
		"msg": sprintf("%s may run as root: neither it nor the pod sets securityContext.runAsNonRoot to true; set it on the pod (spec.securityContext) or on the container", [k8s.container_label(c)]),
		"field": sprintf("%s.securityContext.runAsNonRoot", [k8s.container_field(c)]),
		"details": {"container": c.container.name},
	}
}
