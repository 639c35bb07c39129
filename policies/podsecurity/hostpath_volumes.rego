# METADATA
# title: Pods mount no hostPath volumes
# description: >-
#   Pod Security Standards (baseline), upstream check hostPathVolumes. A hostPath volume
#   exposes the node's file system to the pod, and with it the node's credentials and
#   container runtime socket. No volume may set hostPath; use a persistentVolumeClaim,
#   configMap, secret, emptyDir or another volume type instead. (At the restricted level the
#   restricted volume types check, BLF-PSS-016, decides in its place, as upstream does.)
# scope: package
# custom:
#   id: BLF-PSS-004
#   severity: high
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, CIS-5.2.12, NSA-Pod-Security]
#   pss: {level: baseline, check: hostPathVolumes}
package bailiff.podsecurity.hostpath_volumes

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

violation contains pss.finding(check, v) if {
	some i, volume in k8s.pod_spec.volumes
	host_path := volume.hostPath
	host_path != null
	path := object.get(host_path, ["path"], "")
	v := {
		"msg": sprintf("volume %q mounts the node's path %q (hostPath); use a persistentVolumeClaim, configMap, secret, emptyDir or other non-host volume", [
			object.get(volume, "name", ""), path,
		]),
		"field": pss.pod_field(sprintf("volumes[%d].hostPath", [i])),
		"details": {"volume": object.get(volume, "name", ""), "path": path},
	}
}
