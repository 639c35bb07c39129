# METADATA
# title: The default service account does not automount its token
# description: >-
#   A ServiceAccount named "default" must set automountServiceAccountToken: false. Every
#   namespace has one and every pod that names no service account runs as it, so with
#   automounting on, all of those pods carry a token of a shared identity. Pods that
#   need API access should get their own service account instead. Kubernetes creates
#   each namespace's default account without the field, so expect this on new
#   namespaces until it is set (e.g. by the namespace's provisioning).
# scope: package
# custom:
#   id: BLF-RBAC-010
#   severity: low
#   enforcement: warn
#   kinds: [ServiceAccount]
#   controls: [CIS-5.1.5]
package bailiff.rbac.default_account_automount

import data.bailiff.lib.k8s

violation contains v if {
	k8s.kind == "ServiceAccount"
	k8s.obj.metadata.name == "default"
	object.get(k8s.obj, "automountServiceAccountToken", null) != false
	v := {
		"msg": "the namespace's \"default\" service account mounts its token into every pod that names no service account; set automountServiceAccountToken: false on it, and give pods that call the Kubernetes API a service account of their own",
		"field": "automountServiceAccountToken",
	}
}
