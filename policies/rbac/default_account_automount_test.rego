package bailiff.rbac.default_account_automount_test

import data.bailiff.rbac.default_account_automount as daa

account(name, fields) := {"request": {
	"kind": {"kind": "ServiceAccount"},
	"object": object.union({"kind": "ServiceAccount", "metadata": {"name": name, "namespace": "web"}}, fields),
}}

test_default_account_without_the_field_is_reported if {
	vs := daa.violation with input as account("default", {})
	count(vs) == 1
	some v in vs
	v.field == "automountServiceAccountToken"
	contains(v.msg, "set automountServiceAccountToken: false")
}

test_default_account_with_automount_true_is_reported if {
	count(daa.violation) == 1 with input as account("default", {"automountServiceAccountToken": true})
}

test_default_account_with_automount_false_is_allowed if {
	count(daa.violation) == 0 with input as account("default", {"automountServiceAccountToken": false})
}

test_other_accounts_are_ignored if {
	count(daa.violation) == 0 with input as account("web", {})
}

test_other_kinds_are_ignored if {
	count(daa.violation) == 0 with input as {"request": {"kind": {"kind": "Secret"}, "object": {"metadata": {"name": "default"}}}}
}
