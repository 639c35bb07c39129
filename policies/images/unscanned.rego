# METADATA
# title: Images have a vulnerability scan result
# description: >-
#   A container image without a scan result (scanned false: the scan is pending, has
#   failed, or the vulnerability database is too old to trust) cannot be checked by
#   BLF-IMG-004. images.unscanned decides what happens: "deny" refuses it, "warn" (the
#   default) admits it with a warning, "allow" says nothing ("audit", which only records
#   it, is accepted too). The violation carries that value as its enforcement, and its
#   message says why there is no result; a pending scan usually finishes within
#   moments, so retrying the deploy is often enough.
#   Images whose reference does not parse are BLF-IMG-006's concern. In an offline
#   scan (`bailiff scan`, unscanned_reason "offline") no scanner exists at all, so
#   nothing is pending: the scan says once that images were not checked instead of
#   warning about every image.
# scope: package
# custom:
#   id: BLF-IMG-005
#   severity: high
#   enforcement: warn
#   kinds: [workloads]
#   controls: [NSA-Supply-Chain]
package bailiff.images.unscanned

import data.bailiff.lib.k8s

mode := object.get(data.bailiff.config, ["images", "unscanned"], "warn")

# What each mode means for the deploy.
outcome := {
	"deny": "images without a scan result are refused (images.unscanned: deny)",
	"warn": "it is admitted, but cannot be checked for known vulnerabilities until it is scanned (images.unscanned: warn)",
	"audit": "it is admitted and recorded as unchecked (images.unscanned: audit)",
}

violation contains v if {
	some c in k8s.containers
	ref := c.container.image
	image := input.context.images[ref]
	not image.scanned == true
	not image.error
	reason := object.get(image, "unscanned_reason", "")
	reason != "offline"
	v := {
		"msg": sprintf("%s image %q has no vulnerability scan result (%s); %s", [
			k8s.container_label(c), ref, explain(reason), outcome[mode],
		]),
		"field": sprintf("%s.image", [k8s.container_field(c)]),
		"enforcement": mode,
		"details": {"image": ref, "reason": reason},
	}
}

# explain turns the scanner's reason into advice for the person deploying.
explain("") := "no scan result is known for it"

explain("pending") := "scan pending, retry in a moment"

explain("db stale") := "the vulnerability database is out of date, so results are not trusted until it is updated"

explain(reason) := sprintf("scan %s", [reason]) if startswith(reason, "failed")

explain(reason) := reason if {
	not reason in {"", "pending", "db stale"}
	not startswith(reason, "failed")
}
