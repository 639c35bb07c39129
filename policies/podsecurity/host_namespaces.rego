# METADATA
# title: Pods do not share the host's namespaces
# description: >-
#   Pod Security Standards (baseline), upstream check hostNamespaces. A pod that shares the
#   node's network, process or IPC namespace can watch or disturb everything else on the
#   node. spec.hostNetwork, spec.hostPID and spec.hostIPC must be unset or false.
# scope: package
# custom:
#   id: BLF-PSS-003
#   severity: high
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.2.3, CIS-5.2.4, CIS-5.2.5, NSA-Pod-Security]
#   pss: {level: baseline, check: hostNamespaces}
package bailiff.podsecurity.host_namespaces

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

namespaces := {
	"hostNetwork": "network",
	"hostPID": "process (PID)",
	"hostIPC": "IPC",
}

violation contains pss.finding(check, v) if {
	some key, namespace in namespaces
	k8s.pod_spec[key] == true
	v := {
		"msg": sprintf("the pod shares the host's %s namespace (%s: true); remove %s or set it to false", [namespace, key, key]),
		"field": pss.pod_field(key),
		"details": {"namespace": key},
	}
}
