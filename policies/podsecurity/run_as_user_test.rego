package bailiff.podsecurity.run_as_user_test

import data.bailiff.podsecurity.run_as_user as rau

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

root := {
	"securityContext": {"runAsUser": 0},
	"containers": [{"name": "app", "securityContext": {"runAsUser": 1000}}],
	"initContainers": [{"name": "setup", "securityContext": {"runAsUser": 0}}],
}

test_user_zero_on_pod_and_init_container_is_reported if {
	vs := rau.violation with input as pod(root) with data.bailiff.config.podSecurity.level as "restricted"
	{v.field | some v in vs} == {"spec.securityContext.runAsUser", "spec.initContainers[0].securityContext.runAsUser"}
	some v in vs
	v.field == "spec.initContainers[0].securityContext.runAsUser"
	contains(v.msg, `init container "setup" sets securityContext.runAsUser to 0 (root)`)
	not v.enforcement
}

test_non_zero_null_and_unset_pass if {
	spec := {"securityContext": {"runAsUser": 1000}, "containers": [{"name": "a", "securityContext": {"runAsUser": null}}, {"name": "b"}]}
	count(rau.violation) == 0 with input as pod(spec)
}

test_user_namespace_pods_are_exempt if {
	count(rau.violation) == 0 with input as pod(object.union(root, {"hostUsers": false}))
}

test_below_restricted_it_is_audit if {
	some v in rau.violation with input as pod(root) with data.bailiff.config.podSecurity.level as "baseline"
	v.enforcement == "audit"
}
