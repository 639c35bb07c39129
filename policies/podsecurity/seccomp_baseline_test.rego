package bailiff.podsecurity.seccomp_baseline_test

import data.bailiff.podsecurity.seccomp_baseline

pod(spec, annotations) := {"request": {"kind": {"kind": "Pod"}, "object": {
	"kind": "Pod",
	"metadata": {"name": "p", "annotations": annotations},
	"spec": spec,
}}}

unconfined := {"seccompProfile": {"type": "Unconfined"}}

test_unconfined_pod_and_init_container_are_denied if {
	spec := {"securityContext": unconfined, "containers": [{"name": "app"}], "initContainers": [{"name": "setup", "securityContext": unconfined}]}
	vs := seccomp_baseline.violation with input as pod(spec, {})
	{v.field | some v in vs} == {"spec.securityContext.seccompProfile.type", "spec.initContainers[0].securityContext.seccompProfile.type"}
	some v in vs
	contains(v.msg, `init container "setup" sets securityContext.seccompProfile.type to "Unconfined"`)
	not v.enforcement
}

test_profile_without_type_is_denied if {
	count(seccomp_baseline.violation) == 1 with input as pod({"securityContext": {"seccompProfile": {}}}, {})
}

test_allowed_types_and_unset_pass if {
	spec := {
		"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
		"containers": [{"name": "a", "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}}, {"name": "b"}],
	}
	count(seccomp_baseline.violation) == 0 with input as pod(spec, {})
}

test_legacy_annotations_are_no_longer_read if {
	annotations := {"seccomp.security.alpha.kubernetes.io/pod": "unconfined", "container.seccomp.security.alpha.kubernetes.io/app": "unconfined"}
	count(seccomp_baseline.violation) == 0 with input as pod({"containers": [{"name": "app"}]}, annotations)
}

test_windows_pods_are_not_exempt if {
	spec := {"os": {"name": "windows"}, "securityContext": unconfined}
	some v in seccomp_baseline.violation with input as pod(spec, {})
	not v.enforcement
}

test_restricted_level_leaves_it_to_seccomp_restricted if {
	some v in seccomp_baseline.violation with input as pod({"securityContext": unconfined}, {}) with data.bailiff.config.podSecurity.level as "restricted"
	v.enforcement == "audit"
}
