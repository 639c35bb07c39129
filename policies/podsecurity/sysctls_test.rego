package bailiff.podsecurity.sysctls_test

import data.bailiff.podsecurity.sysctls

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

test_unsafe_sysctls_are_denied if {
	spec := {"securityContext": {"sysctls": [
		{"name": "net.ipv4.tcp_syncookies", "value": "1"},
		{"name": "kernel.msgmax", "value": "65536"},
		{"name": "net/ipv4/tcp_wmem", "value": "4096"},
	]}}
	vs := sysctls.violation with input as pod(spec)
	{v.field | some v in vs} == {"spec.securityContext.sysctls[1].name", "spec.securityContext.sysctls[2].name"}
	some v in vs
	contains(v.msg, `sysctl "kernel.msgmax", which is not one of the safe sysctls`)
}

test_every_safe_sysctl_is_allowed if {
	spec := {"securityContext": {"sysctls": [{"name": name, "value": "1"} | some name in sysctls.safe_sysctls]}}
	count(sysctls.violation) == 0 with input as pod(spec)
}

test_the_newest_safe_sysctls_are_allowed if {
	spec := {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}, {"name": "net.ipv4.tcp_keepalive_time", "value": "600"}]}}
	count(sysctls.violation) == 0 with input as pod(spec)
}

test_in_a_deployment_at_privileged_it_is_audit if {
	d := {"request": {"kind": {"kind": "Deployment"}, "object": {"spec": {"template": {"spec": {"securityContext": {"sysctls": [{"name": "vm.max_map_count"}]}}}}}}}
	some v in sysctls.violation with input as d with data.bailiff.config.podSecurity.level as "privileged"
	v.field == "spec.template.spec.securityContext.sysctls[0].name"
	v.enforcement == "audit"
}
