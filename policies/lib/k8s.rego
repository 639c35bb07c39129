# METADATA
# title: Kubernetes object helpers
# description: >-
#   Shared helpers for every Bailiff policy: where the pod spec of each
#   pod-bearing kind lives, every container with its field path and JSON
#   pointer, and the labels policies read.
# scope: package
package bailiff.lib.k8s

# The object under review (the new object on CREATE and UPDATE).
obj := input.request.object

# The object's kind, e.g. "Deployment".
kind := input.request.kind.kind

# The path, as keys, from the object to its pod spec for every pod-bearing kind.
pod_spec_keys := {
	"Pod": ["spec"],
	"Deployment": ["spec", "template", "spec"],
	"ReplicaSet": ["spec", "template", "spec"],
	"StatefulSet": ["spec", "template", "spec"],
	"DaemonSet": ["spec", "template", "spec"],
	"Job": ["spec", "template", "spec"],
	"ReplicationController": ["spec", "template", "spec"],
	"CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
	"PodTemplate": ["template", "spec"],
}

# The path, as keys, from the object to the metadata of its pods.
pod_meta_keys := {
	"Pod": ["metadata"],
	"Deployment": ["spec", "template", "metadata"],
	"ReplicaSet": ["spec", "template", "metadata"],
	"StatefulSet": ["spec", "template", "metadata"],
	"DaemonSet": ["spec", "template", "metadata"],
	"Job": ["spec", "template", "metadata"],
	"ReplicationController": ["spec", "template", "metadata"],
	"CronJob": ["spec", "jobTemplate", "spec", "template", "metadata"],
	"PodTemplate": ["template", "metadata"],
}

# The RBAC kinds.
rbac_kinds := {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}

# True when the object carries a pod spec.
is_workload if pod_spec_keys[input.request.kind.kind]

# The pod spec of a pod-bearing object. (It, pod_meta and is_workload read input directly
# rather than through obj and kind: every admission evaluates them, and each rule they
# go through costs as much as the lookup itself.)
pod_spec := object.get(input.request.object, pod_spec_keys[input.request.kind.kind], {})

# The pod spec's location as a field path ("spec.template.spec").
pod_spec_field := concat(".", pod_spec_keys[kind])

# The pod spec's location as a JSON pointer ("/spec/template/spec").
pod_spec_pointer := concat("/", array.concat([""], pod_spec_keys[kind]))

# The metadata of the pods the object creates.
pod_meta := object.get(input.request.object, pod_meta_keys[input.request.kind.kind], {})

# The labels of the pods the object creates.
pod_labels := object.get(pod_meta, "labels", {})

# The annotations of the pods the object creates.
pod_annotations := object.get(pod_meta, "annotations", {})

# The labels of the object's namespace (from input.context.namespace).
namespace_labels := object.get(input, ["context", "namespace", "labels"], {})

# The three kinds of container a pod spec holds.
container_types := ["containers", "initContainers", "ephemeralContainers"]

# Every container of the pod spec, whatever its type, with where it is:
# {"container": {...}, "type": "initContainers", "index": 0}.
# Field paths and JSON pointers are built only when a message or patch needs them
# (container_field, container_pointer): every workload policy walks this list on every
# admission, and building strings for compliant containers is most of its cost.
containers := [{"container": container, "type": type, "index": i} |
	some type in container_types
	some i, container in pod_spec[type]
]

# The securityContext fields that some container sets, e.g. {"capabilities", "privileged"},
# gathered once per evaluation. A check that only concerns containers setting a field
# looks it up here before walking the containers: most objects set few fields, and one
# lookup is much cheaper than every such policy walking every container.
container_security_fields := {key | some c in containers; some key, _ in c.container.securityContext}

# The field path of a container: "spec.template.spec.initContainers[0]".
container_field(c) := concat("", [pod_spec_field, ".", c.type, "[", format_int(c.index, 10), "]"])

# The JSON pointer of a container: "/spec/template/spec/initContainers/0".
container_pointer(c) := concat("/", [pod_spec_pointer, c.type, format_int(c.index, 10)])

# The display name of a container: "container \"web\"" or "init container \"setup\"".
container_label(c) := sprintf("container %q", [c.container.name]) if c.type == "containers"

container_label(c) := sprintf("init container %q", [c.container.name]) if c.type == "initContainers"

container_label(c) := sprintf("ephemeral container %q", [c.container.name]) if c.type == "ephemeralContainers"
