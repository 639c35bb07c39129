# METADATA
# title: Probes and lifecycle hooks target the pod itself
# description: >-
#   Pod Security Standards (baseline), upstream check hostProbesAndHostLifecycle. The
#   kubelet runs probes and lifecycle handlers from the node, so a handler with a host of
#   its own lets a pod make the node reach any address. In every container (init and
#   ephemeral included) the host of httpGet and tcpSocket in livenessProbe, readinessProbe,
#   startupProbe, lifecycle.postStart and lifecycle.preStop must be unset or empty.
# scope: package
# custom:
#   id: BLF-PSS-006
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [PSS-baseline, NSA-Pod-Security]
#   pss: {level: baseline, check: hostProbesAndHostLifecycle}
package bailiff.podsecurity.host_probes_lifecycle

import data.bailiff.lib.k8s
import data.bailiff.lib.pss

check := pss.check(rego.metadata.chain())

# Where a handler may sit in a container, as key paths, by the container key they start
# with (most containers set none of these keys, so that is looked at first).
handlers := {
	"livenessProbe": [["livenessProbe"]],
	"readinessProbe": [["readinessProbe"]],
	"startupProbe": [["startupProbe"]],
	"lifecycle": [["lifecycle", "postStart"], ["lifecycle", "preStop"]],
}

violation contains pss.finding(check, v) if {
	some c in k8s.containers
	some key, paths in handlers
	c.container[key]
	some handler in paths
	action := object.get(c.container, handler, null)
	action != null
	some kind in ["httpGet", "tcpSocket"]
	host := object.get(action, [kind, "host"], null)
	not host in {null, ""}
	name := concat(".", array.concat(handler, [kind, "host"]))
	v := {
		"msg": sprintf("%s sets %s to %q; probes and lifecycle handlers must target the pod itself: leave host unset or empty", [
			k8s.container_label(c), name, host,
		]),
		"field": sprintf("%s.%s", [k8s.container_field(c), name]),
		"details": {"container": c.container.name, "host": host},
	}
}
