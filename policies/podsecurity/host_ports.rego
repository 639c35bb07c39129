# METADATA
# title: Containers bind no host ports
# description: >-
#   Pod Security Standards (baseline), upstream check hostPorts. A host port binds the
#   node's own network interface, bypassing network policies and tying the pod to a node.
#   Every containers[*].ports[*].hostPort (init and ephemeral containers included) must be
#   unset or 0; expose the pod through a Service instead.
# scope: package
# custom:
#   id: BLF-PSS-005
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.2.13, NSA-Pod-Security]
#   pss: {level: baseline, check: hostPorts}
package bailiff.podsecurity.host_ports

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

violation contains pss.finding(check, v) if {
	some c in k8s.containers
	some i, port in c.container.ports
	host_port := port.hostPort
	not host_port in {null, 0}
	v := {
		"msg": sprintf("%s binds host port %v (ports[%d].hostPort); remove hostPort or set it to 0, and expose the pod through a Service", [
			k8s.container_label(c), host_port, i,
		]),
		"field": sprintf("%s.ports[%d].hostPort", [k8s.container_field(c), i]),
		"details": {"container": c.container.name, "hostPort": host_port},
	}
}
