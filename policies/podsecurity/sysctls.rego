# METADATA
# title: Pods set only safe sysctls
# description: >-
#   Pod Security Standards (baseline), upstream check sysctls. Most kernel parameters are
#   shared by every pod on the node. spec.securityContext.sysctls may name only the safe,
#   namespaced ones: kernel.shm_rmid_forced, net.ipv4.ip_local_port_range,
#   net.ipv4.ip_local_reserved_ports, net.ipv4.ip_unprivileged_port_start,
#   net.ipv4.ping_group_range, net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_intvl,
#   net.ipv4.tcp_keepalive_probes, net.ipv4.tcp_keepalive_time, net.ipv4.tcp_rmem,
#   net.ipv4.tcp_syncookies and net.ipv4.tcp_wmem.
# scope: package
# custom:
#   id: BLF-PSS-011
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.7.3, NSA-Pod-Security]
#   pss: {level: baseline, check: sysctls}
package bailiff.podsecurity.sysctls

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

safe_sysctls := {
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ping_group_range",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_wmem",
}

violation contains pss.finding(check, v) if {
	some i, sysctl in k8s.pod_spec.securityContext.sysctls
	name := object.get(sysctl, ["name"], "")
	not safe_sysctls[name]
	v := {
		"msg": sprintf("the pod sets sysctl %q, which is not one of the safe sysctls; remove it (allowed: %s)", [name, concat(", ", sort(safe_sysctls))]),
		"field": pss.pod_field(sprintf("securityContext.sysctls[%d].name", [i])),
		"details": {"sysctl": name},
	}
}
