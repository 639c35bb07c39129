package bailiff.podsecurity.seccomp_restricted_test

import data.bailiff.podsecurity.seccomp_restricted as seccomp

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

profile(type) := {"securityContext": {"seccompProfile": {"type": type}}}

test_pod_profile_covers_containers_that_set_nothing if {
	spec := object.union(profile("RuntimeDefault"), {"containers": [{"name": "app"}], "initContainers": [object.union({"name": "setup"}, profile("Localhost"))]})
	count(seccomp.violation) == 0 with input as pod(spec)
}

test_containers_without_a_profile_are_reported if {
	spec := {"containers": [object.union({"name": "app"}, profile("RuntimeDefault"))], "ephemeralContainers": [{"name": "debug"}]}
	vs := seccomp.violation with input as pod(spec) with data.bailiff.config.podSecurity.level as "restricted"
	count(vs) == 1
	some v in vs
	v.field == "spec.ephemeralContainers[0].securityContext.seccompProfile.type"
	contains(v.msg, `ephemeral container "debug" runs without a seccomp profile`)
	not v.enforcement
}

test_unconfined_pod_profile_does_not_cover_containers if {
	spec := object.union(profile("Unconfined"), {"containers": [{"name": "app"}]})
	vs := seccomp.violation with input as pod(spec)
	{v.field | some v in vs} == {"spec.securityContext.seccompProfile.type", "spec.containers[0].securityContext.seccompProfile.type"}
}

test_unconfined_container_is_reported_despite_the_pod_profile if {
	spec := object.union(profile("RuntimeDefault"), {"containers": [object.union({"name": "app"}, profile("Unconfined"))]})
	vs := seccomp.violation with input as pod(spec)
	{v.field | some v in vs} == {"spec.containers[0].securityContext.seccompProfile.type"}
}

test_windows_pods_are_exempt if {
	spec := object.union(profile("Unconfined"), {"os": {"name": "windows"}, "containers": [{"name": "app"}]})
	count(seccomp.violation) == 0 with input as pod(spec)
}

test_below_restricted_it_is_audit if {
	some v in seccomp.violation with input as pod({"containers": [{"name": "app"}]}) with data.bailiff.config.podSecurity.level as "baseline"
	v.enforcement == "audit"
}
