# METADATA
# title: Pods mount a service-account token only when they say they need one
# description: >-
#   A workload's pod spec should set automountServiceAccountToken. Left unset, the
#   service account's setting applies, and Kubernetes mounts a token into every
#   container unless the account says otherwise, so a compromised container can call
#   the API with it. Set it to false for pods that do not call the Kubernetes API; a pod
#   that does states so with true, which is accepted as the deliberate choice CIS 5.1.6
#   allows ("unless the resource explicitly requires this access"). The service account
#   itself is not visible at admission, so a pod relying on an account that already
#   disables automounting is reported too: setting the field on the pod settles it.
# scope: package
# custom:
#   id: BLF-RBAC-009
#   severity: low
#   enforcement: warn
#   kinds: [workloads]
#   controls: [CIS-5.1.6]
package bailiff.rbac.token_automount

import data.bailiff.lib.k8s

violation contains v if {
	k8s.is_workload
	not is_boolean(object.get(k8s.pod_spec, "automountServiceAccountToken", null))
	v := {
		"msg": sprintf("pods get a service-account token mounted unless their service account disables it, because %s.automountServiceAccountToken is not set; set it to false if the pods do not call the Kubernetes API, or to true if they do", [
			k8s.pod_spec_field,
		]),
		"field": sprintf("%s.automountServiceAccountToken", [k8s.pod_spec_field]),
	}
}
