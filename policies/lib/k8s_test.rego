package bailiff.lib.k8s_test

import data.bailiff.lib.k8s

deployment := {"request": {
	"kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
	"object": {
		"kind": "Deployment",
		"metadata": {"name": "web"},
		"spec": {"template": {
			"metadata": {"labels": {"app": "web"}},
			"spec": {
				"initContainers": [{"name": "setup", "image": "busybox"}],
				"containers": [{"name": "web", "image": "nginx"}, {"name": "sidecar", "image": "envoy"}],
			},
		}},
	},
}}

test_containers_lists_every_type_with_its_path if {
	got := {[k8s.container_field(c), k8s.container_pointer(c)] | some c in k8s.containers} with input as deployment
	got == {
		["spec.template.spec.containers[0]", "/spec/template/spec/containers/0"],
		["spec.template.spec.containers[1]", "/spec/template/spec/containers/1"],
		["spec.template.spec.initContainers[0]", "/spec/template/spec/initContainers/0"],
	}
}

test_cronjob_pod_spec_is_under_job_template if {
	cron := {"request": {
		"kind": {"kind": "CronJob"},
		"object": {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}}},
	}}
	k8s.pod_spec_field == "spec.jobTemplate.spec.template.spec" with input as cron
	count(k8s.containers) == 1 with input as cron
}

test_pod_labels_come_from_the_template if {
	k8s.pod_labels == {"app": "web"} with input as deployment
}

test_non_workload_has_no_containers if {
	role := {"request": {"kind": {"kind": "Role"}, "object": {"rules": []}}}
	not k8s.is_workload with input as role
	count(k8s.containers) == 0 with input as role
}

test_container_label_names_the_type if {
	k8s.container_label({"type": "initContainers", "container": {"name": "setup"}}) == "init container \"setup\""
}
