package bailiff.podsecurity.capabilities_restricted_test

import data.bailiff.podsecurity.capabilities_restricted as caps

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

restricted(capabilities) := {"securityContext": {"capabilities": capabilities}}

test_missing_drop_all_and_forbidden_add_are_reported if {
	spec := {
		"containers": [object.union({"name": "app"}, restricted({"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "CHOWN"]}))],
		"initContainers": [object.union({"name": "setup"}, restricted({"drop": ["all", "NET_RAW"]}))],
		"ephemeralContainers": [{"name": "debug"}],
	}
	vs := caps.violation with input as pod(spec) with data.bailiff.config.podSecurity.level as "restricted"
	{v.field | some v in vs} == {
		"spec.containers[0].securityContext.capabilities.add[1]",
		"spec.initContainers[0].securityContext.capabilities.drop",
		"spec.ephemeralContainers[0].securityContext.capabilities.drop",
	}
	some v in vs
	v.field == "spec.containers[0].securityContext.capabilities.add[1]"
	contains(v.msg, `container "app" adds capability "CHOWN"; only NET_BIND_SERVICE may be added back`)
	not v.enforcement
}

test_drop_all_with_net_bind_service_passes if {
	spec := {"containers": [object.union({"name": "app"}, restricted({"drop": ["NET_RAW", "ALL"], "add": ["NET_BIND_SERVICE"]}))]}
	count(caps.violation) == 0 with input as pod(spec)
}

test_null_drop_is_missing if {
	count(caps.violation) == 1 with input as pod({"containers": [object.union({"name": "app"}, restricted({"drop": null}))]})
}

test_windows_pods_are_exempt if {
	spec := {"os": {"name": "windows"}, "containers": [object.union({"name": "app"}, restricted({"add": ["SYS_ADMIN"]}))]}
	count(caps.violation) == 0 with input as pod(spec)
}

test_below_restricted_it_is_audit if {
	some v in caps.violation with input as pod({"containers": [{"name": "app"}]}) with data.bailiff.config.podSecurity.level as "baseline"
	v.enforcement == "audit"
}
