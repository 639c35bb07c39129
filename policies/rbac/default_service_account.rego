# METADATA
# title: Workloads run under their own service account
# description: >-
#   A workload's pods must name a service account other than "default": the
#   namespace's default account is shared by every pod that names none, so any
#   permission granted to one of them is granted to all. serviceAccountName absent,
#   empty or "default" is reported; when it is empty the deprecated serviceAccount
#   field decides, as it does in Kubernetes. Create a ServiceAccount for the workload
#   and set serviceAccountName to it.
# scope: package
# custom:
#   id: BLF-RBAC-008
#   severity: medium
#   enforcement: warn
#   kinds: [workloads]
#   controls: [CIS-5.1.5, NSA-RBAC]
package bailiff.rbac.default_service_account

import data.bailiff.lib.k8s

violation contains v if {
	k8s.is_workload
	[key, how] := account_source
	v := {
		"msg": sprintf("pods run as the namespace's shared \"default\" service account (%s); create a ServiceAccount for this workload and set %s.serviceAccountName to its name", [
			how, k8s.pod_spec_field,
		]),
		"field": sprintf("%s.%s", [k8s.pod_spec_field, key]),
		"details": {"serviceAccountName": "default"},
	}
}

named(key) := name if {
	name := object.get(k8s.pod_spec, key, "")
	name != ""
}

# account_source is [field, explanation] when the pods run as "default", and [] when
# they run as an account of their own (the usual case, settled first and cheaply).
account_source := [] if {
	name := k8s.pod_spec.serviceAccountName
	is_string(name)
	not name in {"", "default"}
} else := ["serviceAccountName", "serviceAccountName is \"default\""] if {
	named("serviceAccountName") == "default"
} else := ["serviceAccount", "the deprecated serviceAccount field is \"default\""] if {
	not named("serviceAccountName")
	named("serviceAccount") == "default"
} else := ["serviceAccountName", "serviceAccountName is not set"] if {
	not named("serviceAccountName")
	not named("serviceAccount")
}
