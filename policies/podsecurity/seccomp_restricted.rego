# METADATA
# title: Seccomp is set to RuntimeDefault or Localhost
# description: >-
#   Pod Security Standards (restricted), upstream check seccompProfile_restricted. Every
#   container (init and ephemeral included) must run under a seccomp profile:
#   securityContext.seccompProfile.type must be RuntimeDefault or Localhost, set on the pod
#   (spec.securityContext) or on each container, and never Unconfined. Windows pods
#   (spec.os.name: windows) are exempt: seccomp does not exist there.
# scope: package
# custom:
#   id: BLF-PSS-019
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-restricted, CIS-5.7.2, NSA-Pod-Security]
#   pss: {level: restricted, check: seccompProfile_restricted}
package bailiff.podsecurity.seccomp_restricted

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

allowed_types := {"RuntimeDefault", "Localhost"}

# The pod sets an allowed profile, which containers that set none inherit.
pod_allowed if allowed_types[object.get(k8s.pod_spec.securityContext.seccompProfile, "type", "")]

# Most pods set an allowed profile, which covers every container that sets none: then
# only containers setting a profile of their own need a look.
violation contains pss.finding(check, v) if {
	not pod_allowed
	some v in pod_findings
}

violation contains pss.finding(check, v) if {
	k8s.container_security_fields.seccompProfile
	some c in k8s.containers
	type := object.get(c.container.securityContext.seccompProfile, "type", "")
	not allowed_types[type]
	not pss.windows
	v := {
		"msg": sprintf("%s sets securityContext.seccompProfile.type to %q; set it to RuntimeDefault or Localhost", [k8s.container_label(c), type]),
		"field": sprintf("%s.securityContext.seccompProfile.type", [k8s.container_field(c)]),
		"details": {"container": c.container.name, "type": type},
	}
}

# Without an allowed profile on the pod: the pod's own profile, and the containers that
# set none.
pod_findings contains v if {
	type := object.get(k8s.pod_spec.securityContext.seccompProfile, "type", "")
	not allowed_types[type]
	not pss.windows
	v := {
		"msg": sprintf("the pod sets securityContext.seccompProfile.type to %q; set it to RuntimeDefault or Localhost", [type]),
		"field": pss.pod_field("securityContext.seccompProfile.type"),
		"details": {"type": type},
	}
}

pod_findings contains v if {
	some c in k8s.containers
	object.get(c.container, ["securityContext", "seccompProfile"], null) == null
	not pss.windows
	v := {
		"msg": sprintf("%s runs without a seccomp profile: neither it nor the pod sets securityContext.seccompProfile.type; set it to RuntimeDefault (or Localhost) on the pod or on the container", [k8s.container_label(c)]),
		"field": sprintf("%s.securityContext.seccompProfile.type", [k8s.container_field(c)]),
		"details": {"container": c.container.name},
	}
}
