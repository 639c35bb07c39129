# METADATA
# title: Volumes with a data class use StorageClasses restricted to the class's regions
# description: >-
#   A PersistentVolumeClaim labelled bailiff.io/data-class=<class> (itself, else its
#   namespace) must use a StorageClass whose allowedTopologies only allow the class's
#   regions: every allowedTopologies term (terms are ORed) needs a matchLabelExpression on
#   topology.kubernetes.io/region whose values are all allowed regions. A StorageClass
#   without allowedTopologies may provision the volume anywhere, and so does not comply.
#   The class used is the one Kubernetes uses: the deprecated
#   volume.beta.kubernetes.io/storage-class annotation, else spec.storageClassName, else
#   (storageClassName absent) the cluster's default StorageClass, the one annotated
#   storageclass.kubernetes.io/is-default-class "true" (the newest, as Kubernetes picks,
#   when several are). StorageClasses are read from input.context.storageClasses; when
#   the StorageClass cannot be found there (unknown, no default, or storageClassName ""
#   binding a pre-provisioned volume), the claim is reported with enforcement warn,
#   because it cannot be verified. Only topology.kubernetes.io/region counts, not the
#   legacy failure-domain.beta.kubernetes.io/region label. To comply, name a
#   StorageClass restricted to the class's regions.
# scope: package
# custom:
#   id: BLF-GEO-004
#   severity: high
#   enforcement: deny
#   kinds: [PersistentVolumeClaim]
#   controls: [GDPR-Art44, GDPR-Art25]
#   mutates: false
package bailiff.placement.volume_topology

import data.bailiff.lib.k8s
import data.bailiff.placement.lib

beta_class_annotation := "volume.beta.kubernetes.io/storage-class"

default_class_annotations := {
	"storageclass.kubernetes.io/is-default-class",
	"storageclass.beta.kubernetes.io/is-default-class",
}

storage_classes := object.get(input, ["context", "storageClasses"], {})

allowed_text := concat(", ", lib.regions)

# The StorageClass the claim asks for, as {"name", "field", "how"}; undefined when it
# names none (Kubernetes then uses the default class).
requested := {
	"name": name,
	"field": sprintf("metadata.annotations[%q]", [beta_class_annotation]),
	"how": sprintf("its annotation %s", [beta_class_annotation]),
} if {
	name := k8s.obj.metadata.annotations[beta_class_annotation]
} else := {"name": name, "field": "spec.storageClassName", "how": "spec.storageClassName"} if {
	name := k8s.obj.spec.storageClassName
	name != null
}

# The StorageClass the claim gets.
storage_class := requested

storage_class := {"name": name, "field": "spec.storageClassName", "how": "the cluster's default StorageClass"} if {
	not requested
	name := default_class
}

# The default StorageClass: the newest one annotated default, by name when tied.
default_class := name if {
	defaults := {[created(sc), class_name] |
		some class_name, sc in storage_classes
		some annotation in default_class_annotations
		sc.metadata.annotations[annotation] == "true"
	}
	newest := max({t | some [t, _] in defaults})
	name := min({n | some [t, n] in defaults; t == newest})
}

# When the class was created, in ns; 0 (the oldest) when that is not known.
created(sc) := t if {
	t := time.parse_rfc3339_ns(sc.metadata.creationTimestamp)
} else := 0

# restricts(sc) holds when every allowedTopologies term limits the region to allowed ones.
# The StorageClass's allowedTopologies; [] when it has none.
topologies(sc) := t if {
	t := sc.allowedTopologies
	is_array(t)
} else := []

restricts(sc) if {
	terms := topologies(sc)
	count(terms) > 0
	every term in terms {
		some e in term.matchLabelExpressions
		e.key == lib.region_key
		count(e.values) > 0
		every value in e.values {
			value in lib.regions
		}
	}
}

checked if {
	lib.is_pvc
	lib.known
}

details := {"dataClass": lib.data_class, "allowedRegions": lib.regions}

violation contains v if {
	checked
	sc := storage_classes[storage_class.name]
	not restricts(sc)
	v := {
		"msg": sprintf("%s holds %s, which may only be stored in %s, but StorageClass %q (%s) %s; use a StorageClass whose allowedTopologies restrict %s to those regions", [
			lib.subject, lib.class_text, allowed_text, storage_class.name, storage_class.how, problem(sc), lib.region_key,
		]),
		"field": storage_class.field,
		"details": object.union(details, {"storageClass": storage_class.name}),
	}
}

# The StorageClass is not known: warn, it cannot be verified.
violation contains v if {
	checked
	name := storage_class.name
	name != ""
	not storage_classes[name]
	v := {
		"msg": sprintf("%s holds %s, which may only be stored in %s, but StorageClass %q (%s) is not known to Bailiff, so where its volumes live cannot be verified; use a StorageClass whose allowedTopologies restrict %s to those regions", [
			lib.subject, lib.class_text, allowed_text, storage_class.name, storage_class.how, lib.region_key,
		]),
		"field": storage_class.field,
		"enforcement": "warn",
		"details": object.union(details, {"storageClass": storage_class.name}),
	}
}

# storageClassName "": a pre-provisioned volume without a class, which Bailiff cannot see.
violation contains v if {
	checked
	storage_class.name == ""
	v := {
		"msg": sprintf("%s holds %s, which may only be stored in %s, but its empty StorageClass binds it to a pre-provisioned volume Bailiff cannot see, so where it lives cannot be verified; set spec.storageClassName to a StorageClass whose allowedTopologies restrict %s to those regions", [
			lib.subject, lib.class_text, allowed_text, lib.region_key,
		]),
		"field": storage_class.field,
		"enforcement": "warn",
		"details": object.union(details, {"storageClass": ""}),
	}
}

violation contains v if {
	checked
	not storage_class
	v := {
		"msg": sprintf("%s holds %s, which may only be stored in %s, but it names no StorageClass and no default StorageClass is known, so where its volume lives cannot be verified; set spec.storageClassName to a StorageClass whose allowedTopologies restrict %s to those regions", [
			lib.subject, lib.class_text, allowed_text, lib.region_key,
		]),
		"field": "spec.storageClassName",
		"enforcement": "warn",
		"details": details,
	}
}

problem(sc) := "has no allowedTopologies, so its volumes may be created in any region" if {
	count(topologies(sc)) == 0
}

problem(sc) := sprintf("allows %s", [concat(" or ", [describe(term) | some term in topologies(sc)])]) if {
	count(topologies(sc)) > 0
}

describe(term) := sprintf("%s in [%s]", [lib.region_key, concat(", ", values)]) if {
	expressions := [e |
		some e in object.get(term, "matchLabelExpressions", [])
		e.key == lib.region_key
	]
	count(expressions) > 0
	values := [value | some e in expressions; some value in object.get(e, "values", [])]
} else := sprintf("a topology with no %s restriction", [lib.region_key])
