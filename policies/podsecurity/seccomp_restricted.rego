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

pod_profile := object.get(k8s.pod_spec, ["securityContext", "seccompProfile"], null)

# The pod sets an allowed profile, which containers that set none inherit.
pod_allowed if allowed_types[object.get(pod_profile, ["type"], "")]

violation contains pss.finding(check, v) if {
	not pss.windows
	pod_profile != null
	type := object.get(pod_profile, ["type"], "")
	not allowed_types[type]
	v := {
		"msg": sprintf("the pod sets securityContext.seccompProfile.type to %q; set it to RuntimeDefault or Localhost", [type]),
		"field": pss.pod_field("securityContext.seccompProfile.type"),
		"details": {"type": type},
	}
}

violation contains pss.finding(check, v) if {
	not pss.windows
	some c in k8s.containers
	profile := object.get(c.container, ["securityContext", "seccompProfile"], null)
	profile != null
	type := object.get(profile, ["type"], "")
	not allowed_types[type]
	v := {
		"msg": sprintf("%s sets securityContext.seccompProfile.type to %q; set it to RuntimeDefault or Localhost", [k8s.container_label(c), type]),
		"field": sprintf("%s.securityContext.seccompProfile.type", [k8s.container_field(c)]),
		"details": {"container": c.container.name, "type": type},
	}
}

violation contains pss.finding(check, v) if {
	not pss.windows
	not pod_allowed
	some c in k8s.containers
	object.get(c.container, ["securityContext", "seccompProfile"], null) == null
	v := {
		"msg": sprintf("%s runs without a seccomp profile: neither it nor the pod sets securityContext.seccompProfile.type; set it to RuntimeDefault (or Localhost) on the pod or on the container", [k8s.container_label(c)]),
		"field": sprintf("%s.securityContext.seccompProfile.type", [k8s.container_field(c)]),
		"details": {"container": c.container.name},
	}
}
