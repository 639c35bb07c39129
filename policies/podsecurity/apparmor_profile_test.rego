package bailiff.podsecurity.apparmor_profile_test

import data.bailiff.podsecurity.apparmor_profile

pod(spec, annotations) := {"request": {"kind": {"kind": "Pod"}, "object": {
	"kind": "Pod",
	"metadata": {"name": "p", "annotations": annotations},
	"spec": spec,
}}}

app := {"containers": [{"name": "app"}]}

test_unconfined_pod_profile_is_denied if {
	some v in apparmor_profile.violation with input as pod(object.union(app, {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}), {})
	v.field == "spec.securityContext.appArmorProfile.type"
	contains(v.msg, `the pod sets securityContext.appArmorProfile.type to "Unconfined"`)
	not v.enforcement
}

test_profile_without_type_on_an_ephemeral_container_is_denied if {
	spec := object.union(app, {"ephemeralContainers": [{"name": "debug", "securityContext": {"appArmorProfile": {}}}]})
	some v in apparmor_profile.violation with input as pod(spec, {})
	v.field == "spec.ephemeralContainers[0].securityContext.appArmorProfile.type"
}

test_runtime_default_localhost_and_null_are_allowed if {
	spec := {
		"securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
		"containers": [
			{"name": "a", "securityContext": {"appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-web"}}},
			{"name": "b", "securityContext": {"appArmorProfile": null}},
		],
	}
	count(apparmor_profile.violation) == 0 with input as pod(spec, {})
}

test_legacy_annotations_are_read if {
	annotations := {
		"container.apparmor.security.beta.kubernetes.io/app": "localhost/k8s-web",
		"container.apparmor.security.beta.kubernetes.io/ghost": "unconfined",
		"container.apparmor.security.beta.kubernetes.io/empty": "",
		"container.apparmor.security.beta.kubernetes.io/rd": "runtime/default",
		"container.apparmor.security.beta.kubernetes.io/bare": "localhost",
		"apparmor.security.beta.kubernetes.io/other": "unconfined",
	}
	vs := apparmor_profile.violation with input as pod(app, annotations)
	{v.field | some v in vs} == {
		`metadata.annotations["container.apparmor.security.beta.kubernetes.io/ghost"]`,
		`metadata.annotations["container.apparmor.security.beta.kubernetes.io/bare"]`,
	}
}

test_annotation_field_in_a_deployment_is_under_the_template if {
	d := {"request": {"kind": {"kind": "Deployment"}, "object": {"spec": {"template": {
		"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}},
		"spec": app,
	}}}}}
	some v in apparmor_profile.violation with input as d
	v.field == `spec.template.metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"]`
}

test_audit_below_baseline if {
	some v in apparmor_profile.violation with input as pod(app, {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"})
		with data.bailiff.config.podSecurity.level as "privileged"
	v.enforcement == "audit"
}
