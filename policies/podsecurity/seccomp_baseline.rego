# METADATA
# title: Seccomp is not disabled
# description: >-
#   Pod Security Standards (baseline), upstream check seccompProfile_baseline. Seccomp
#   filters the system calls a container may make. Where the pod or a container (init and
#   ephemeral included) sets securityContext.seccompProfile, its type must be
#   RuntimeDefault or Localhost; Unconfined is refused. The legacy seccomp annotations are
#   not read, as upstream has ignored them since policy version 1.19. (At the restricted
#   level the restricted seccomp check, BLF-PSS-019, decides in its place, as upstream
#   does.)
# scope: package
# custom:
#   id: BLF-PSS-010
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.7.2, NSA-Pod-Security]
#   pss: {level: baseline, check: seccompProfile_baseline}
package bailiff.podsecurity.seccomp_baseline

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

allowed_types := {"RuntimeDefault", "Localhost"}

violation contains pss.finding(check, v) if {
	type := object.get(k8s.pod_spec.securityContext.seccompProfile, "type", "")
	not allowed_types[type]
	v := {
		"msg": sprintf("the pod sets securityContext.seccompProfile.type to %q; allowed: RuntimeDefault, Localhost, or leave seccompProfile unset", [type]),
		"field": pss.pod_field("securityContext.seccompProfile.type"),
		"details": {"type": type},
	}
}

violation contains pss.finding(check, v) if {
	k8s.container_security_fields.seccompProfile
	some c in k8s.containers
	type := object.get(c.container.securityContext.seccompProfile, "type", "")
	not allowed_types[type]
	v := {
		"msg": sprintf("%s sets securityContext.seccompProfile.type to %q; allowed: RuntimeDefault, Localhost, or leave seccompProfile unset", [k8s.container_label(c), type]),
		"field": sprintf("%s.securityContext.seccompProfile.type", [k8s.container_field(c)]),
		"details": {"container": c.container.name, "type": type},
	}
}
