package bailiff.rbac.default_service_account_test

import data.bailiff.rbac.default_service_account as dsa

deployment(pod_spec) := {"request": {
	"kind": {"group": "apps", "kind": "Deployment"},
	"object": {"spec": {"template": {"spec": object.union({"containers": [{"name": "web", "image": "web:1"}]}, pod_spec)}}},
}}

test_missing_service_account_is_reported if {
	vs := dsa.violation with input as deployment({})
	count(vs) == 1
	some v in vs
	v.field == "spec.template.spec.serviceAccountName"
	contains(v.msg, "(serviceAccountName is not set)")
	contains(v.msg, "set spec.template.spec.serviceAccountName to its name")
}

test_empty_and_default_names_are_reported if {
	count(dsa.violation) == 1 with input as deployment({"serviceAccountName": ""})
	some v in dsa.violation with input as deployment({"serviceAccountName": "default"})
	contains(v.msg, `serviceAccountName is "default"`)
}

test_deprecated_field_is_read if {
	count(dsa.violation) == 0 with input as deployment({"serviceAccount": "web"})
	some v in dsa.violation with input as deployment({"serviceAccount": "default"})
	v.field == "spec.template.spec.serviceAccount"
}

test_service_account_name_wins_over_deprecated_field if {
	count(dsa.violation) == 0 with input as deployment({"serviceAccountName": "web", "serviceAccount": "default"})
	count(dsa.violation) == 1 with input as deployment({"serviceAccountName": "default", "serviceAccount": "web"})
}

test_dedicated_service_account_is_allowed if {
	count(dsa.violation) == 0 with input as deployment({"serviceAccountName": "web"})
}

test_bare_pod_and_cronjob_are_checked if {
	some v in dsa.violation with input as {"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": []}}}}
	v.field == "spec.serviceAccountName"
	some w in dsa.violation with input as {"request": {"kind": {"kind": "CronJob"}, "object": {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"serviceAccountName": "default"}}}}}}}}
	w.field == "spec.jobTemplate.spec.template.spec.serviceAccountName"
}

test_non_workloads_are_ignored if {
	count(dsa.violation) == 0 with input as {"request": {"kind": {"kind": "ConfigMap"}, "object": {"data": {}}}}
}
