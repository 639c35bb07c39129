# METADATA
# title: AppArmor is not disabled or overridden with an unknown profile
# description: >-
#   Pod Security Standards (baseline), upstream check appArmorProfile. On hosts with
#   AppArmor, the runtime's default profile confines every container. The pod and its
#   containers (init and ephemeral included) may set securityContext.appArmorProfile.type
#   only to RuntimeDefault or Localhost, and the legacy annotations
#   container.apparmor.security.beta.kubernetes.io/<container> may only be empty,
#   "runtime/default" or "localhost/<profile>". Unconfined is refused.
# scope: package
# custom:
#   id: BLF-PSS-001
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.7.3, NSA-Pod-Security]
#   pss: {level: baseline, check: appArmorProfile}
package bailiff.podsecurity.apparmor_profile

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

allowed_types := {"RuntimeDefault", "Localhost"}

annotation_prefix := "container.apparmor.security.beta.kubernetes.io/"

violation contains pss.finding(check, v) if {
	type := object.get(k8s.pod_spec.securityContext.appArmorProfile, "type", "")
	not allowed_types[type]
	v := {
		"msg": sprintf("the pod sets securityContext.appArmorProfile.type to %q; allowed: RuntimeDefault, Localhost, or leave appArmorProfile unset", [type]),
		"field": pss.pod_field("securityContext.appArmorProfile.type"),
		"details": {"type": type},
	}
}

violation contains pss.finding(check, v) if {
	k8s.container_security_fields.appArmorProfile
	some c in k8s.containers
	type := object.get(c.container.securityContext.appArmorProfile, "type", "")
	not allowed_types[type]
	v := {
		"msg": sprintf("%s sets securityContext.appArmorProfile.type to %q; allowed: RuntimeDefault, Localhost, or leave appArmorProfile unset", [k8s.container_label(c), type]),
		"field": sprintf("%s.securityContext.appArmorProfile.type", [k8s.container_field(c)]),
		"details": {"container": c.container.name, "type": type},
	}
}

violation contains pss.finding(check, v) if {
	some key, value in k8s.pod_annotations
	startswith(key, annotation_prefix)
	not allowed_annotation(value)
	v := {
		"msg": sprintf("annotation %q sets the AppArmor profile %q; allowed: \"runtime/default\", \"localhost/<profile>\" or empty (better: securityContext.appArmorProfile)", [key, value]),
		"field": pss.annotation_field(key),
		"details": {"annotation": key, "value": value},
	}
}

allowed_annotation("")

allowed_annotation("runtime/default")

allowed_annotation(value) if startswith(value, "localhost/")
