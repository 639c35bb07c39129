package bailiff.podsecurity.privileged_test

import data.bailiff.podsecurity.privileged

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

deployment(spec) := {"request": {"kind": {"kind": "Deployment"}, "object": {"kind": "Deployment", "spec": {"template": {"spec": spec}}}}}

privileged_init := {
	"initContainers": [{"name": "setup", "securityContext": {"privileged": true}}],
	"containers": [{"name": "app", "securityContext": {"privileged": false}}],
}

test_privileged_init_container_is_denied if {
	vs := privileged.violation with input as pod(privileged_init)
	count(vs) == 1
	some v in vs
	v.field == "spec.initContainers[0].securityContext.privileged"
	contains(v.msg, `init container "setup" is privileged`)
	not v.enforcement
}

test_privileged_ephemeral_container_in_a_deployment_is_denied if {
	spec := {"containers": [{"name": "app"}], "ephemeralContainers": [{"name": "debug", "securityContext": {"privileged": true}}]}
	some v in privileged.violation with input as deployment(spec)
	v.field == "spec.template.spec.ephemeralContainers[0].securityContext.privileged"
	contains(v.msg, `ephemeral container "debug"`)
}

test_unset_false_and_null_are_allowed if {
	spec := {"containers": [
		{"name": "a"},
		{"name": "b", "securityContext": {"privileged": false}},
		{"name": "c", "securityContext": {"privileged": null}},
		{"name": "d", "securityContext": null},
	]}
	count(privileged.violation) == 0 with input as pod(spec)
}

test_privileged_level_records_it_as_audit if {
	some v in privileged.violation with input as pod(privileged_init) with data.bailiff.config.podSecurity.level as "privileged"
	v.enforcement == "audit"
}

test_restricted_level_enforces_it if {
	some v in privileged.violation with input as pod(privileged_init) with data.bailiff.config.podSecurity.level as "restricted"
	not v.enforcement
}

test_non_workloads_are_ignored if {
	count(privileged.violation) == 0 with input as {"request": {"kind": {"kind": "ConfigMap"}, "object": {"spec": privileged_init}}}
}
