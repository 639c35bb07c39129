# METADATA
# title: Containers drop all capabilities and add back at most NET_BIND_SERVICE
# description: >-
#   Pod Security Standards (restricted), upstream check capabilities_restricted. Every
#   container (init and ephemeral included) must list "ALL" in
#   securityContext.capabilities.drop, and may add back only NET_BIND_SERVICE. Windows pods
#   (spec.os.name: windows) are exempt: Linux capabilities do not exist there.
# scope: package
# custom:
#   id: BLF-PSS-014
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-restricted, CIS-5.2.8, CIS-5.2.9, CIS-5.2.10, NSA-Pod-Security]
#   pss: {level: restricted, check: capabilities_restricted}
package bailiff.podsecurity.capabilities_restricted

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

violation contains pss.finding(check, v) if {
	some c in k8s.containers
	dropped := object.get(c.container, ["securityContext", "capabilities", "drop"], [])
	not "ALL" in dropped
	not pss.windows
	v := {
		"msg": sprintf("%s does not drop all capabilities; set securityContext.capabilities.drop to [\"ALL\"] (written exactly so)", [k8s.container_label(c)]),
		"field": sprintf("%s.securityContext.capabilities.drop", [k8s.container_field(c)]),
		"details": {"container": c.container.name, "drop": dropped},
	}
}

violation contains pss.finding(check, v) if {
	some c in k8s.containers
	some i, capability in c.container.securityContext.capabilities.add
	capability != "NET_BIND_SERVICE"
	not pss.windows
	v := {
		"msg": sprintf("%s adds capability %q; only NET_BIND_SERVICE may be added back after dropping ALL", [k8s.container_label(c), capability]),
		"field": sprintf("%s.securityContext.capabilities.add[%d]", [k8s.container_field(c), i]),
		"details": {"container": c.container.name, "capability": capability},
	}
}
