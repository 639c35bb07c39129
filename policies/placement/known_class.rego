# METADATA
# title: Data class labels name a configured data class
# description: >-
#   A workload or PersistentVolumeClaim whose bailiff.io/data-class label (on its pod
#   template or itself, else on its namespace) names a class that placement.dataClasses
#   does not define is refused: Bailiff cannot know where that data may live, and a typo
#   ("pi" for "pii") must not switch residency checks off. An empty label value is not a
#   way out of the namespace's class; it is an unknown class too. To comply, use one of
#   the configured classes, or have the class added to placement.dataClasses.
# scope: package
# custom:
#   id: BLF-GEO-005
#   severity: high
#   enforcement: deny
#   kinds: [workloads, PersistentVolumeClaim]
#   controls: [GDPR-Art5, GDPR-Art25]
#   mutates: false
package bailiff.placement.known_class

import data.bailiff.placement.lib

violation contains v if {
	lib.data_class
	not lib.known
	v := lib.with_field(
		{
			"msg": sprintf("%s is labelled with %s, which is not a configured data class, so where its data may live is unknown; use one of %s", [
				lib.subject, lib.class_text, known_text,
			]),
			"details": {"dataClass": lib.data_class, "knownClasses": lib.known_classes},
		},
		lib.labelled.field,
	)
}

known_text := concat(", ", lib.known_classes) if count(lib.known_classes) > 0

known_text := "the classes in placement.dataClasses (none is configured yet)" if count(lib.known_classes) == 0
