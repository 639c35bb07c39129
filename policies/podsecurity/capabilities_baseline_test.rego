package bailiff.podsecurity.capabilities_baseline_test

import data.bailiff.podsecurity.capabilities_baseline

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

adding(caps) := {
	"containers": [{"name": "app", "securityContext": {"capabilities": {"drop": ["ALL"]}}}],
	"initContainers": [{"name": "setup", "securityContext": {"capabilities": {"add": caps}}}],
}

test_non_default_capability_on_an_init_container_is_denied if {
	vs := capabilities_baseline.violation with input as pod(adding(["CHOWN", "NET_RAW"]))
	count(vs) == 1
	some v in vs
	v.field == "spec.initContainers[0].securityContext.capabilities.add[1]"
	contains(v.msg, `init container "setup" adds capability "NET_RAW"`)
	not v.enforcement
}

test_names_are_exact if {
	vs := capabilities_baseline.violation with input as pod(adding(["chown", "CAP_CHOWN", ""]))
	{v.details.capability | some v in vs} == {"chown", "CAP_CHOWN", ""}
}

test_default_capabilities_are_allowed if {
	count(capabilities_baseline.violation) == 0 with input as pod(adding([c | some c in capabilities_baseline.default_capabilities]))
}

test_no_or_null_capabilities_are_allowed if {
	spec := {"containers": [{"name": "a"}, {"name": "b", "securityContext": {"capabilities": null}}, {"name": "c", "securityContext": {"capabilities": {"add": null}}}]}
	count(capabilities_baseline.violation) == 0 with input as pod(spec)
}

test_restricted_level_leaves_it_to_capabilities_restricted if {
	some v in capabilities_baseline.violation with input as pod(adding(["SYS_ADMIN"])) with data.bailiff.config.podSecurity.level as "restricted"
	v.enforcement == "audit"
}

test_windows_pods_are_not_exempt if {
	spec := object.union(adding(["SYS_ADMIN"]), {"os": {"name": "windows"}})
	some v in capabilities_baseline.violation with input as pod(spec)
	not v.enforcement
}
