package bailiff.podsecurity.selinux_options_test

import data.bailiff.podsecurity.selinux_options

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

test_custom_type_user_and_role_are_denied if {
	spec := {
		"securityContext": {"seLinuxOptions": {"type": "spc_t"}},
		"containers": [{"name": "app"}],
		"initContainers": [{"name": "setup", "securityContext": {"seLinuxOptions": {"user": "system_u", "role": "system_r"}}}],
	}
	vs := selinux_options.violation with input as pod(spec)
	{v.field | some v in vs} == {
		"spec.securityContext.seLinuxOptions.type",
		"spec.initContainers[0].securityContext.seLinuxOptions.user",
		"spec.initContainers[0].securityContext.seLinuxOptions.role",
	}
	some v in vs
	v.field == "spec.initContainers[0].securityContext.seLinuxOptions.role"
	contains(v.msg, `init container "setup" sets securityContext.seLinuxOptions.role to "system_r"`)
}

test_container_types_level_and_empty_values_are_allowed if {
	spec := {
		"securityContext": {"seLinuxOptions": {"type": "container_engine_t", "level": "s0:c1,c2"}},
		"containers": [
			{"name": "a", "securityContext": {"seLinuxOptions": {"type": "container_t", "user": "", "role": null}}},
			{"name": "b", "securityContext": {"seLinuxOptions": {"type": null}}},
			{"name": "c", "securityContext": {"seLinuxOptions": {}}},
		],
	}
	count(selinux_options.violation) == 0 with input as pod(spec)
}

test_type_names_are_exact if {
	some v in selinux_options.violation with input as pod({"containers": [{"name": "a", "securityContext": {"seLinuxOptions": {"type": "CONTAINER_T"}}}]})
	v.field == "spec.containers[0].securityContext.seLinuxOptions.type"
}

test_audit_below_baseline if {
	spec := {"securityContext": {"seLinuxOptions": {"type": "unconfined_t"}}}
	some v in selinux_options.violation with input as pod(spec) with data.bailiff.config.podSecurity.level as "privileged"
	v.enforcement == "audit"
}
