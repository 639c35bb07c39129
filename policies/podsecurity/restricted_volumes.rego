# METADATA
# title: Pods use only the restricted volume types
# description: >-
#   Pod Security Standards (restricted), upstream check restrictedVolumes. Volumes of the
#   pod may only be configMap, csi, downwardAPI, emptyDir, ephemeral, image,
#   persistentVolumeClaim, projected or secret volumes; hostPath, nfs, the in-tree cloud
#   disks and every other inline volume source are refused (storage belongs in a
#   PersistentVolume). As upstream does, a volume that sets one of the allowed sources
#   passes, whatever else it sets.
# scope: package
# custom:
#   id: BLF-PSS-016
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-restricted, CIS-5.2.12, NSA-Pod-Security]
#   pss: {level: restricted, check: restrictedVolumes}
package bailiff.podsecurity.restricted_volumes

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

allowed_sources := [
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
	"persistentVolumeClaim", "projected", "secret",
]

# The restricted sources, in the order upstream names them.
restricted_sources := [
	"hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
	"glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
	"vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
	"scaleIO", "storageos",
]

violation contains pss.finding(check, v) if {
	some i, volume in k8s.pod_spec.volumes
	not allowed(volume)
	name := object.get(volume, "name", "")
	v := source_violation(i, name, [s | some s in restricted_sources; object.get(volume, [s], null) != null])
}

allowed(volume) if {
	some source in allowed_sources
	object.get(volume, [source], null) != null
}

source_violation(i, name, sources) := {
	"msg": sprintf("volume %q uses the restricted volume type %s; use a persistentVolumeClaim (or configMap, secret, emptyDir, projected, downwardAPI, csi, ephemeral, image) instead", [name, sources[0]]),
	"field": pss.pod_field(sprintf("volumes[%d].%s", [i, sources[0]])),
	"details": {"volume": name, "type": sources[0]},
} if count(sources) > 0

source_violation(i, name, sources) := {
	"msg": sprintf("volume %q has no volume source this policy knows; allowed: persistentVolumeClaim, configMap, secret, emptyDir, projected, downwardAPI, csi, ephemeral, image", [name]),
	"field": pss.pod_field(sprintf("volumes[%d]", [i])),
	"details": {"volume": name, "type": "unknown"},
} if count(sources) == 0
