# METADATA
# title: Windows pods do not run as host processes
# description: >-
#   Pod Security Standards (baseline), upstream check windowsHostProcess. A Windows
#   HostProcess container runs directly on the node with the node's privileges.
#   securityContext.windowsOptions.hostProcess of the pod and of every container (init and
#   ephemeral included) must be unset or false.
# scope: package
# custom:
#   id: BLF-PSS-012
#   severity: critical
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.2.11, NSA-Pod-Security]
#   pss: {level: baseline, check: windowsHostProcess}
package bailiff.podsecurity.windows_host_process

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

violation contains pss.finding(check, v) if {
	k8s.pod_spec.securityContext.windowsOptions.hostProcess == true
	v := {
		"msg": "the pod runs as a Windows host process (securityContext.windowsOptions.hostProcess: true); remove it or set it to false",
		"field": pss.pod_field("securityContext.windowsOptions.hostProcess"),
		"details": {},
	}
}

violation contains pss.finding(check, v) if {
	k8s.container_security_fields.windowsOptions
	some c in k8s.containers
	c.container.securityContext.windowsOptions.hostProcess == true
	v := {
		"msg": sprintf("%s runs as a Windows host process (securityContext.windowsOptions.hostProcess: true); remove it or set it to false", [k8s.container_label(c)]),
		"field": sprintf("%s.securityContext.windowsOptions.hostProcess", [k8s.container_field(c)]),
		"details": {"container": c.container.name},
	}
}
