package bailiff.podsecurity.restricted_volumes_test

import data.bailiff.podsecurity.restricted_volumes as rv

pod(volumes) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"volumes": volumes}}}}

test_restricted_sources_are_reported_by_type if {
	volumes := [
		{"name": "cache", "emptyDir": {}},
		{"name": "share", "nfs": {"server": "nfs", "path": "/"}},
		{"name": "node", "hostPath": {"path": "/"}},
		{"name": "nothing"},
	]
	vs := rv.violation with input as pod(volumes) with data.bailiff.config.podSecurity.level as "restricted"
	{v.field | some v in vs} == {"spec.volumes[1].nfs", "spec.volumes[2].hostPath", "spec.volumes[3]"}
	some v in vs
	v.field == "spec.volumes[1].nfs"
	contains(v.msg, `volume "share" uses the restricted volume type nfs`)
	not v.enforcement
}

test_every_allowed_source_passes if {
	volumes := [{"name": s, s: {}} | some s in rv.allowed_sources]
	count(rv.violation) == 0 with input as pod(volumes)
}

test_an_allowed_source_passes_whatever_else_is_set if {
	count(rv.violation) == 0 with input as pod([{"name": "both", "hostPath": {"path": "/"}, "secret": {"secretName": "s"}}])
}

test_a_null_allowed_source_does_not_count if {
	count(rv.violation) == 1 with input as pod([{"name": "v", "configMap": null, "gitRepo": {"repository": "r"}}])
}

test_below_restricted_it_is_audit if {
	some v in rv.violation with input as pod([{"name": "v", "cephfs": {"monitors": ["m"]}}]) with data.bailiff.config.podSecurity.level as "baseline"
	v.enforcement == "audit"
}
