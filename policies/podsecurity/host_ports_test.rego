package bailiff.podsecurity.host_ports_test

import data.bailiff.podsecurity.host_ports

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

test_host_port_on_an_ephemeral_container_is_denied if {
	spec := {
		"containers": [{"name": "app", "ports": [{"containerPort": 80}]}],
		"ephemeralContainers": [{"name": "debug", "ports": [{"containerPort": 80, "hostPort": 0}, {"containerPort": 81, "hostPort": 8081}]}],
	}
	vs := host_ports.violation with input as pod(spec)
	count(vs) == 1
	some v in vs
	v.field == "spec.ephemeralContainers[0].ports[1].hostPort"
	contains(v.msg, `ephemeral container "debug" binds host port 8081`)
}

test_zero_null_and_unset_host_ports_are_allowed if {
	spec := {"containers": [{"name": "app", "ports": [{"containerPort": 80, "hostPort": 0}, {"containerPort": 81, "hostPort": null}, {"containerPort": 82}]}]}
	count(host_ports.violation) == 0 with input as pod(spec)
}

test_audit_below_baseline if {
	spec := {"containers": [{"name": "app", "ports": [{"containerPort": 80, "hostPort": 80}]}]}
	some v in host_ports.violation with input as pod(spec) with data.bailiff.config.podSecurity.level as "privileged"
	v.enforcement == "audit"
}
