package bailiff.podsecurity.run_as_non_root_test

import data.bailiff.podsecurity.run_as_non_root as rnr

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

non_root(value) := {"securityContext": {"runAsNonRoot": value}}

test_pod_level_true_covers_containers_that_set_nothing if {
	spec := object.union(non_root(true), {"containers": [{"name": "app"}], "initContainers": [{"name": "setup", "securityContext": {"runAsNonRoot": null}}]})
	count(rnr.violation) == 0 with input as pod(spec)
}

test_container_false_overrides_pod_true if {
	spec := object.union(non_root(true), {"containers": [{"name": "app"}], "ephemeralContainers": [object.union({"name": "debug"}, non_root(false))]})
	vs := rnr.violation with input as pod(spec) with data.bailiff.config.podSecurity.level as "restricted"
	count(vs) == 1
	some v in vs
	v.field == "spec.ephemeralContainers[0].securityContext.runAsNonRoot"
	contains(v.msg, `ephemeral container "debug" sets securityContext.runAsNonRoot to false`)
	not v.enforcement
}

test_pod_false_is_reported_even_when_containers_say_true if {
	spec := object.union(non_root(false), {"containers": [object.union({"name": "app"}, non_root(true))]})
	vs := rnr.violation with input as pod(spec)
	{v.field | some v in vs} == {"spec.securityContext.runAsNonRoot"}
}

test_unset_everywhere_is_reported_per_container if {
	vs := rnr.violation with input as pod({"containers": [{"name": "app"}], "initContainers": [{"name": "setup"}]})
	{v.field | some v in vs} == {"spec.containers[0].securityContext.runAsNonRoot", "spec.initContainers[0].securityContext.runAsNonRoot"}
}

test_user_namespace_pods_are_exempt if {
	spec := object.union(non_root(false), {"hostUsers": false, "containers": [{"name": "app"}]})
	count(rnr.violation) == 0 with input as pod(spec)
}

test_below_restricted_it_is_audit if {
	some v in rnr.violation with input as pod({"containers": [{"name": "app"}]}) with data.bailiff.config.podSecurity.level as "baseline"
	v.enforcement == "audit"
}
