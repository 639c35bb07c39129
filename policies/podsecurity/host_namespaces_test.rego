package bailiff.podsecurity.host_namespaces_test

import data.bailiff.podsecurity.host_namespaces

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

test_each_host_namespace_is_denied if {
	vs := host_namespaces.violation with input as pod({"hostNetwork": true, "hostPID": true, "hostIPC": true, "containers": [{"name": "app"}]})
	{v.field | some v in vs} == {"spec.hostNetwork", "spec.hostPID", "spec.hostIPC"}
	some v in vs
	v.field == "spec.hostPID"
	contains(v.msg, "process (PID) namespace (hostPID: true)")
}

test_false_and_unset_are_allowed if {
	count(host_namespaces.violation) == 0 with input as pod({"hostNetwork": false, "hostIPC": null, "containers": [{"name": "app"}]})
}

test_cronjob_field_is_under_the_job_template if {
	cron := {"request": {"kind": {"kind": "CronJob"}, "object": {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"hostNetwork": true}}}}}}}}
	some v in host_namespaces.violation with input as cron
	v.field == "spec.jobTemplate.spec.template.spec.hostNetwork"
}

test_audit_below_baseline if {
	some v in host_namespaces.violation with input as pod({"hostPID": true}) with data.bailiff.config.podSecurity.level as "privileged"
	v.enforcement == "audit"
}
