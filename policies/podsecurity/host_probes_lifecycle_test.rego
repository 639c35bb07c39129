package bailiff.podsecurity.host_probes_lifecycle_test

import data.bailiff.podsecurity.host_probes_lifecycle

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

test_probe_host_on_an_init_container_is_denied if {
	spec := {
		"containers": [{"name": "app", "livenessProbe": {"httpGet": {"port": 80}}}],
		"initContainers": [{"name": "setup", "startupProbe": {"httpGet": {"port": 80, "host": "169.254.169.254"}}}],
	}
	vs := host_probes_lifecycle.violation with input as pod(spec)
	count(vs) == 1
	some v in vs
	v.field == "spec.initContainers[0].startupProbe.httpGet.host"
	contains(v.msg, `init container "setup" sets startupProbe.httpGet.host to "169.254.169.254"`)
}

test_lifecycle_hosts_are_denied_even_the_deprecated_tcp_socket if {
	spec := {"containers": [{"name": "app", "lifecycle": {
		"postStart": {"httpGet": {"port": 80, "host": "example.com"}},
		"preStop": {"tcpSocket": {"port": 80, "host": "10.0.0.1"}},
	}}]}
	vs := host_probes_lifecycle.violation with input as pod(spec)
	{v.field | some v in vs} == {
		"spec.containers[0].lifecycle.postStart.httpGet.host",
		"spec.containers[0].lifecycle.preStop.tcpSocket.host",
	}
}

test_empty_null_and_other_handlers_are_allowed if {
	spec := {"containers": [{
		"name": "app",
		"livenessProbe": {"httpGet": {"port": 80, "host": ""}},
		"readinessProbe": {"tcpSocket": {"port": 80, "host": null}},
		"startupProbe": {"grpc": {"port": 9090}},
		"lifecycle": {"postStart": {"exec": {"command": ["true"]}}, "preStop": {"sleep": {"seconds": 5}}},
	}]}
	count(host_probes_lifecycle.violation) == 0 with input as pod(spec)
}

test_audit_below_baseline if {
	spec := {"containers": [{"name": "app", "readinessProbe": {"tcpSocket": {"port": 80, "host": "db"}}}]}
	some v in host_probes_lifecycle.violation with input as pod(spec) with data.bailiff.config.podSecurity.level as "privileged"
	v.enforcement == "audit"
}
