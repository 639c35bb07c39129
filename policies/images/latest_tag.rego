# METADATA
# title: Images name a fixed version
# description: >-
#   A container image must be pinned: by a tag other than "latest", or by a digest.
#   "latest" and a missing tag (which means "latest") point at whatever was pushed last,
#   so the same manifest runs different code from one node or restart to the next, and
#   neither scans nor rollbacks refer to what actually runs. An image pinned by digest
#   passes whatever its tag.
# scope: package
# custom:
#   id: BLF-IMG-002
#   severity: medium
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Supply-Chain]
package bailiff.images.latest_tag

import data.bailiff.lib.k8s

violation contains v if {
	some c in k8s.containers
	ref := c.container.image
	image := input.context.images[ref]
	problem := tag_problem(object.get(image, "tag", ""))
	not image.error
	object.get(image, "digest", "") == ""
	name := trim_suffix(ref, ":latest")
	v := {
		"msg": sprintf("%s image %q %s, so what runs can change without the manifest changing; pin a version tag (e.g. %s:1.2.3) or a digest (%s@sha256:...)", [
			k8s.container_label(c), ref, problem, name, name,
		]),
		"field": sprintf("%s.image", [k8s.container_field(c)]),
		"details": {"image": ref, "tag": object.get(image, "tag", "")},
	}
}

tag_problem("") := "has no tag, which means \"latest\""

tag_problem("latest") := "uses the tag \"latest\""
