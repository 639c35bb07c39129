# METADATA
# title: Data classes only run in clusters inside their regions
# description: >-
#   A workload or PersistentVolumeClaim labelled bailiff.io/data-class=<class> (on its pod
#   template or itself, else on its namespace) is refused outright when the cluster's
#   region (cluster.region, seen as input.context.cluster.region) is not one of the
#   regions placement.dataClasses allows for the class: no node of this cluster may hold
#   that data, so no pinning can make it compliant. When the cluster's region is not
#   configured the policy fails closed and refuses every data-class object until it is.
#   To comply, deploy to a cluster in one of the class's regions.
# scope: package
# custom:
#   id: BLF-GEO-002
#   severity: critical
#   enforcement: deny
#   kinds: [workloads, PersistentVolumeClaim]
#   controls: [GDPR-Art44, GDPR-Art25]
#   mutates: false
package bailiff.placement.cluster_region

import data.bailiff.placement.lib

details := {
	"dataClass": lib.data_class,
	"clusterRegion": lib.cluster_region,
	"allowedRegions": lib.regions,
}

# Most objects carry no data class: one test settles them.
violation contains v if {
	lib.known
	some v in findings
}

findings contains v if {
	lib.known
	lib.cluster_region != ""
	not lib.cluster_region in lib.regions
	v := lib.with_field(
		{
			"msg": sprintf("%s holds %s, which may only be processed and stored in %s, but this cluster is in %s; deploy it to a cluster in one of those regions", [
				lib.subject, lib.class_text, allowed_text, lib.cluster_region,
			]),
			"details": details,
		},
		lib.labelled.field,
	)
}

findings contains v if {
	lib.known
	lib.cluster_region == ""
	v := lib.with_field(
		{
			"msg": sprintf("%s holds %s, which may only be processed and stored in %s, but this cluster's region is not configured, so that cannot be checked; set cluster.region in Bailiff's configuration", [
				lib.subject, lib.class_text, allowed_text,
			]),
			"details": details,
		},
		lib.labelled.field,
	)
}

allowed_text := concat(", ", lib.regions) if count(lib.regions) > 0

allowed_text := "no region (the class lists none)" if count(lib.regions) == 0
