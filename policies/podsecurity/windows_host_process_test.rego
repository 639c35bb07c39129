package bailiff.podsecurity.windows_host_process_test

import data.bailiff.podsecurity.windows_host_process

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

host_process := {"windowsOptions": {"hostProcess": true}}

test_pod_level_host_process_is_denied if {
	some v in windows_host_process.violation with input as pod({"securityContext": host_process, "containers": [{"name": "app"}]})
	v.field == "spec.securityContext.windowsOptions.hostProcess"
	contains(v.msg, "the pod runs as a Windows host process")
}

test_init_container_host_process_is_denied if {
	spec := {"containers": [{"name": "app"}], "initContainers": [{"name": "setup", "securityContext": host_process}]}
	some v in windows_host_process.violation with input as pod(spec)
	v.field == "spec.initContainers[0].securityContext.windowsOptions.hostProcess"
	contains(v.msg, `init container "setup"`)
}

test_false_and_unset_are_allowed if {
	spec := {
		"securityContext": {"windowsOptions": {"hostProcess": false, "runAsUserName": "ContainerUser"}},
		"containers": [{"name": "app", "securityContext": {"windowsOptions": null}}],
	}
	count(windows_host_process.violation) == 0 with input as pod(spec)
}

test_audit_below_baseline if {
	some v in windows_host_process.violation with input as pod({"securityContext": host_process}) with data.bailiff.config.podSecurity.level as "privileged"
	v.enforcement == "audit"
}
