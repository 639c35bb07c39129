package bailiff.podsecurity.allow_privilege_escalation_test

import data.bailiff.podsecurity.allow_privilege_escalation as ape

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

spec := {
	"containers": [{"name": "app", "securityContext": {"allowPrivilegeEscalation": false}}],
	"initContainers": [{"name": "setup", "securityContext": {"allowPrivilegeEscalation": true}}],
	"ephemeralContainers": [{"name": "debug"}],
}

test_true_and_unset_are_reported if {
	vs := ape.violation with input as pod(spec) with data.bailiff.config.podSecurity.level as "restricted"
	{v.field | some v in vs} == {
		"spec.initContainers[0].securityContext.allowPrivilegeEscalation",
		"spec.ephemeralContainers[0].securityContext.allowPrivilegeEscalation",
	}
	some v in vs
	v.field == "spec.initContainers[0].securityContext.allowPrivilegeEscalation"
	contains(v.msg, `init container "setup" allows privilege escalation (securityContext.allowPrivilegeEscalation: true)`)
	not v.enforcement
}

test_null_counts_as_unset if {
	count(ape.violation) == 1 with input as pod({"containers": [{"name": "app", "securityContext": {"allowPrivilegeEscalation": null}}]})
}

test_false_everywhere_passes if {
	count(ape.violation) == 0 with input as pod({"containers": [{"name": "app", "securityContext": {"allowPrivilegeEscalation": false}}]})
}

test_windows_pods_are_exempt if {
	count(ape.violation) == 0 with input as pod(object.union(spec, {"os": {"name": "windows"}}))
	count(ape.violation) == 2 with input as pod(object.union(spec, {"os": {"name": "Windows"}}))
}

test_below_restricted_it_is_audit if {
	vs := ape.violation with input as pod(spec) with data.bailiff.config.podSecurity.level as "baseline"
	count(vs) == 2
	every v in vs {
		v.enforcement == "audit"
	}
}
