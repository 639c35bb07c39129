# METADATA
# title: Images have no vulnerabilities above the allowed severity
# description: >-
#   A scanned container image must have no vulnerability more severe than
#   images.maxSeverity (critical | high | medium | low | none; "high", the default,
#   refuses images with critical ones; "none" refuses any vulnerability). The counts
#   per severity come from the scan summary (or the listed vulnerabilities, if they
#   name more); the message names up to five of them, most severe first, with the
#   package and the version that fixes it. Vulnerabilities of unknown severity are not
#   counted. Images without a scan result are BLF-IMG-005's concern, and references that
#   do not parse BLF-IMG-006's. Update the image to a version where they are fixed.
# scope: package
# custom:
#   id: BLF-IMG-004
#   severity: critical
#   enforcement: deny
#   kinds: [workloads]
#   controls: [NSA-Supply-Chain]
package bailiff.images.vulnerabilities

import data.bailiff.lib.k8s

# Severities from most to least severe, and their rank.
severities := ["critical", "high", "medium", "low"]

rank := {"critical": 4, "high": 3, "medium": 2, "low": 1, "none": 0}

max_severity := lower(object.get(data.bailiff.config, ["images", "maxSeverity"], "high"))

threshold := rank[max_severity]

# How many vulnerabilities the message names.
shown := 5

violation contains v if {
	some c in k8s.containers
	ref := c.container.image
	image := input.context.images[ref]
	image.scanned == true
	exceeds(image.scan)
	not image.error
	scan := object.get(image, "scan", {})
	listed := [x | some x in object.get(scan, "vulnerabilities", []); rank[severity(x)] > threshold]
	counts := {sev: n |
		some sev in severities
		rank[sev] > threshold
		n := max([object.get(scan, sev, 0), count([x | some x in listed; severity(x) == sev])])
		n > 0
	}
	count(counts) > 0
	total := sum([n | some n in counts])
	top := most_severe(listed)
	v := {
		"msg": sprintf("%s image %q has %s %s%s%s; update it to a version where %s fixed", [
			k8s.container_label(c), ref, count_text(counts), noun(total), limit_text, examples(top, total), pronoun(total),
		]),
		"field": sprintf("%s.image", [k8s.container_field(c)]),
		"details": {
			"image": ref,
			"maxSeverity": max_severity,
			"counts": counts,
			"vulnerabilities": top,
			"fixable": object.get(scan, "fixable", 0),
			"scannedAt": object.get(scan, "scanned_at", ""),
			"dbUpdatedAt": object.get(scan, "db_updated_at", ""),
		},
	}
}

# exceeds(scan) holds when the scan may count or list a vulnerability above the maximum:
# a cheap test that spares a clean image the counting below.
exceeds(scan) if {
	some sev in denied
	scan[sev] > 0
}

exceeds(scan) if {
	some x in scan.vulnerabilities
	rank[severity(x)] > threshold
}

# The severities above the maximum.
denied := [sev | some sev in severities; rank[sev] > threshold]

severity(x) := lower(x.severity) if is_string(x.severity)

else := ""

# most_severe is the first `shown` vulnerabilities, by severity, then id, then package.
most_severe(vulns) := [vulns[key[3]] | some key in array.slice(sort(keys), 0, shown)] if {
	keys := [[0 - rank[severity(x)], object.get(x, "id", ""), object.get(x, "package", ""), i] | some i, x in vulns]
}

# count_text renders {"critical": 2, "high": 1} as "2 critical and 1 high".
count_text(counts) := and_list([sprintf("%d %s", [counts[sev], sev]) | some sev in severities; counts[sev]])

and_list(items) := items[0] if count(items) == 1

else := sprintf("%s and %s", [concat(", ", array.slice(items, 0, count(items) - 1)), items[count(items) - 1]])

noun(1) := "vulnerability"

noun(n) := "vulnerabilities" if n != 1

pronoun(1) := "it is"

pronoun(n) := "they are" if n != 1

limit_text := sprintf(" above the allowed maximum %q", [max_severity]) if threshold > 0

else := ", and none are allowed (images.maxSeverity is \"none\")"

# examples renders ": CVE-1 (critical, openssl 3.0.1, fixed in 3.0.2), ..., and 3 more".
examples(top, _) := "" if count(top) == 0

examples(top, total) := sprintf(": %s%s", [concat(", ", [describe(x) | some x in top]), more(total - count(top))]) if count(top) > 0

more(n) := sprintf(", and %d more", [n]) if n > 0

else := ""

describe(x) := sprintf("%s (%s)", [object.get(x, "id", "unnamed"), concat(", ", [part | some part in [severity(x), package_text(x), fix_text(x)]; part != ""])])

package_text(x) := trim_space(sprintf("%s %s", [object.get(x, "package", ""), object.get(x, "installed", "")]))

fix_text(x) := sprintf("fixed in %s", [x.fixed]) if {
	x.fixed != ""
} else := "no fix yet"
