package bailiff.podsecurity.proc_mount_restricted_test

import data.bailiff.podsecurity.proc_mount_restricted as pm

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

unmasked := {
	"hostUsers": false,
	"containers": [{"name": "app"}],
	"initContainers": [{"name": "setup", "securityContext": {"procMount": "Unmasked"}}],
}

test_unmasked_is_denied_even_in_a_user_namespace if {
	vs := pm.violation with input as pod(unmasked) with data.bailiff.config.podSecurity.level as "restricted"
	count(vs) == 1
	some v in vs
	v.field == "spec.initContainers[0].securityContext.procMount"
	contains(v.msg, `init container "setup" sets securityContext.procMount to "Unmasked"`)
	not v.enforcement
}

test_default_and_unset_pass if {
	spec := {"containers": [{"name": "a", "securityContext": {"procMount": "Default"}}, {"name": "b", "securityContext": {"procMount": null}}]}
	count(pm.violation) == 0 with input as pod(spec)
}

test_below_restricted_it_is_audit if {
	some v in pm.violation with input as pod(unmasked) with data.bailiff.config.podSecurity.level as "baseline"
	v.enforcement == "audit"
}
