package bailiff.rbac.token_automount_test

import data.bailiff.rbac.token_automount as ta

statefulset(pod_spec) := {"request": {
	"kind": {"group": "apps", "kind": "StatefulSet"},
	"object": {"spec": {"template": {"spec": object.union({"containers": [{"name": "db", "image": "db:1"}]}, pod_spec)}}},
}}

test_unset_automount_is_reported if {
	vs := ta.violation with input as statefulset({})
	count(vs) == 1
	some v in vs
	v.field == "spec.template.spec.automountServiceAccountToken"
	contains(v.msg, "set it to false if the pods do not call the Kubernetes API")
}

test_explicit_false_is_allowed if {
	count(ta.violation) == 0 with input as statefulset({"automountServiceAccountToken": false})
}

test_explicit_true_is_a_stated_need if {
	count(ta.violation) == 0 with input as statefulset({"automountServiceAccountToken": true})
}

test_non_boolean_value_is_reported if {
	count(ta.violation) == 1 with input as statefulset({"automountServiceAccountToken": "false"})
}

test_pod_field_path if {
	some v in ta.violation with input as {"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": []}}}}
	v.field == "spec.automountServiceAccountToken"
}

test_service_account_object_is_not_a_workload if {
	count(ta.violation) == 0 with input as {"request": {"kind": {"kind": "ServiceAccount"}, "object": {"metadata": {"name": "web"}}}}
}
