package bailiff.podsecurity.hostpath_volumes_test

import data.bailiff.podsecurity.hostpath_volumes

pod(spec) := {"request": {"kind": {"kind": "Pod"}, "object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}}

host_path := {"volumes": [{"name": "cache", "emptyDir": {}}, {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]}

test_host_path_volume_is_denied if {
	vs := hostpath_volumes.violation with input as pod(host_path)
	count(vs) == 1
	some v in vs
	v.field == "spec.volumes[1].hostPath"
	contains(v.msg, `volume "docker" mounts the node's path "/var/run/docker.sock"`)
	not v.enforcement
}

test_host_path_next_to_an_allowed_source_is_still_denied if {
	spec := {"volumes": [{"name": "both", "hostPath": {"path": "/"}, "configMap": {"name": "cm"}}]}
	count(hostpath_volumes.violation) == 1 with input as pod(spec)
}

test_other_volumes_and_null_host_path_are_allowed if {
	spec := {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}, {"name": "n", "hostPath": null, "nfs": {"server": "s", "path": "/"}}]}
	count(hostpath_volumes.violation) == 0 with input as pod(spec)
}

test_restricted_level_leaves_it_to_restricted_volumes if {
	some v in hostpath_volumes.violation with input as pod(host_path) with data.bailiff.config.podSecurity.level as "restricted"
	v.enforcement == "audit"
}

test_audit_below_baseline if {
	some v in hostpath_volumes.violation with input as pod(host_path) with data.bailiff.config.podSecurity.level as "privileged"
	v.enforcement == "audit"
}
