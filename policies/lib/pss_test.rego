package bailiff.lib.pss_test

import data.bailiff.lib.pss

baseline_check := {"level": "baseline", "check": "privileged"}

restricted_check := {"level": "restricted", "check": "runAsNonRoot"}

replaced_check := {"level": "baseline", "check": "hostPathVolumes"}

test_level_comes_from_config if {
	pss.level == "restricted" with data.bailiff.config.podSecurity.level as "restricted"
	pss.level == "privileged" with data.bailiff.config.podSecurity.level as "privileged"
}

test_default_level_is_baseline if {
	pss.level == "baseline" with data.bailiff.config as {}
}

test_unknown_level_enforces_restricted if {
	pss.level == "restricted" with data.bailiff.config.podSecurity.level as "Baseline"
}

test_baseline_checks_are_enforced_at_baseline_and_above if {
	pss.enforced(baseline_check) with data.bailiff.config.podSecurity.level as "baseline"
	pss.enforced(baseline_check) with data.bailiff.config.podSecurity.level as "restricted"
	not pss.enforced(baseline_check) with data.bailiff.config.podSecurity.level as "privileged"
}

test_restricted_checks_are_enforced_only_at_restricted if {
	pss.enforced(restricted_check) with data.bailiff.config.podSecurity.level as "restricted"
	not pss.enforced(restricted_check) with data.bailiff.config.podSecurity.level as "baseline"
}

test_replaced_baseline_checks_are_not_enforced_at_restricted if {
	pss.enforced(replaced_check) with data.bailiff.config.podSecurity.level as "baseline"
	not pss.enforced(replaced_check) with data.bailiff.config.podSecurity.level as "restricted"
}

test_finding_marks_unenforced_checks_audit if {
	v := {"msg": "m", "field": "spec.x"}
	pss.finding(baseline_check, v) == v with data.bailiff.config.podSecurity.level as "baseline"
	pss.finding(restricted_check, v) == {"msg": "m", "field": "spec.x", "enforcement": "audit"} with data.bailiff.config.podSecurity.level as "baseline"
}

test_check_reads_the_package_metadata if {
	chain := [
		{"path": ["bailiff", "podsecurity", "x", "check"]},
		{"path": ["bailiff", "podsecurity", "x"], "annotations": {"scope": "package", "custom": {"pss": restricted_check}}},
	]
	pss.check(chain) == restricted_check
}

test_windows_and_user_namespace_read_the_pod_spec if {
	windows_pod := {"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"os": {"name": "windows"}, "hostUsers": false}}}}
	pss.windows with input as windows_pod
	pss.user_namespace with input as windows_pod
	linux_pod := {"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"os": {"name": "Windows"}, "hostUsers": null}}}}
	not pss.windows with input as linux_pod
	not pss.user_namespace with input as linux_pod
}

test_annotation_field_follows_the_template if {
	deployment := {"request": {"kind": {"kind": "Deployment"}, "object": {}}}
	pss.annotation_field("a/b") == `spec.template.metadata.annotations["a/b"]` with input as deployment
}
