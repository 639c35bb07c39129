package bailiff.podsecurity.proc_mount_test

import data.bailiff.podsecurity.proc_mount

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

unmasked := {
	"containers": [{"name": "app", "securityContext": {"procMount": "Default"}}],
	"ephemeralContainers": [{"name": "debug", "securityContext": {"procMount": "Unmasked"}}],
}

test_unmasked_ephemeral_container_is_denied if {
	vs := proc_mount.violation with input as pod(unmasked)
	count(vs) == 1
	some v in vs
	v.field == "spec.ephemeralContainers[0].securityContext.procMount"
	contains(v.msg, `ephemeral container "debug" sets securityContext.procMount to "Unmasked"`)
	not v.enforcement
}

test_empty_string_is_not_default if {
	count(proc_mount.violation) == 1 with input as pod({"containers": [{"name": "app", "securityContext": {"procMount": ""}}]})
}

test_default_null_and_unset_are_allowed if {
	spec := {"containers": [{"name": "a", "securityContext": {"procMount": "Default"}}, {"name": "b", "securityContext": {"procMount": null}}, {"name": "c"}]}
	count(proc_mount.violation) == 0 with input as pod(spec)
}

test_user_namespace_pods_may_unmask if {
	count(proc_mount.violation) == 0 with input as pod(object.union(unmasked, {"hostUsers": false}))
	count(proc_mount.violation) == 1 with input as pod(object.union(unmasked, {"hostUsers": true}))
}

test_restricted_level_leaves_it_to_proc_mount_restricted if {
	some v in proc_mount.violation with input as pod(unmasked) with data.bailiff.config.podSecurity.level as "restricted"
	v.enforcement == "audit"
}
