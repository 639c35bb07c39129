package bailiff.images.vulnerabilities_test

import data.bailiff.images.vulnerabilities as vulns

ref := "registry.example.com/web:1.4"

pod(entry) := {
	"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [{"name": "web", "image": ref}]}}},
	"context": {"images": {ref: object.union({"registry": "registry.example.com", "repository": "web", "tag": "1.4", "digest": ""}, entry)}},
}

vuln(id, sev, pkg, installed, fixed) := {"id": id, "severity": sev, "package": pkg, "installed": installed, "fixed": fixed}

scanned(scan) := {"scanned": true, "scan": scan}

two_critical := scanned({
	"critical": 2, "high": 1, "medium": 0, "low": 4, "fixable": 2,
	"vulnerabilities": [
		vuln("CVE-2024-9", "HIGH", "zlib", "1.2", ""),
		vuln("CVE-2024-2", "critical", "libc", "2.36", "2.37"),
		vuln("CVE-2024-1", "critical", "openssl", "3.0.1", "3.0.2"),
		vuln("CVE-2023-7", "low", "bash", "5.1", ""),
	],
})

test_critical_vulnerabilities_are_denied_by_default if {
	vs := vulns.violation with input as pod(two_critical)
	count(vs) == 1
	some v in vs
	v.field == "spec.containers[0].image"
	v.msg == `container "web" image "registry.example.com/web:1.4" has 2 critical vulnerabilities above the allowed maximum "high": CVE-2024-1 (critical, openssl 3.0.1, fixed in 3.0.2), CVE-2024-2 (critical, libc 2.36, fixed in 2.37); update it to a version where they are fixed`
	v.details.counts == {"critical": 2}
}

test_lower_maximum_counts_every_severity_above_it if {
	some v in vulns.violation with input as pod(two_critical)
		with data.bailiff.config.images.maxSeverity as "medium"
	v.details.counts == {"critical": 2, "high": 1}
	contains(v.msg, `has 2 critical and 1 high vulnerabilities above the allowed maximum "medium": CVE-2024-1 (critical, openssl 3.0.1, fixed in 3.0.2), CVE-2024-2 (critical, libc 2.36, fixed in 2.37), CVE-2024-9 (high, zlib 1.2, no fix yet);`)
}

test_none_denies_any_vulnerability if {
	some v in vulns.violation with input as pod(scanned({"low": 1, "vulnerabilities": [vuln("CVE-2023-7", "low", "bash", "5.1", "")]}))
		with data.bailiff.config.images.maxSeverity as "none"
	contains(v.msg, `has 1 low vulnerability, and none are allowed (images.maxSeverity is "none"): CVE-2023-7 (low, bash 5.1, no fix yet);`)
}

test_at_most_five_are_named_most_severe_first if {
	many := scanned({"critical": 3, "high": 4, "vulnerabilities": [
		vuln("CVE-5", "high", "e", "1", ""),
		vuln("CVE-4", "high", "d", "1", ""),
		vuln("CVE-3", "critical", "c", "1", ""),
		vuln("CVE-9", "high", "f", "1", ""),
		vuln("CVE-1", "critical", "a", "1", ""),
		vuln("CVE-2", "critical", "b", "1", ""),
		vuln("CVE-6", "high", "g", "1", ""),
	]})
	some v in vulns.violation with input as pod(many) with data.bailiff.config.images.maxSeverity as "medium"
	[x.id | some x in v.details.vulnerabilities] == ["CVE-1", "CVE-2", "CVE-3", "CVE-4", "CVE-5"]
	contains(v.msg, "has 3 critical and 4 high vulnerabilities")
	endswith(v.msg, "CVE-5 (high, e 1, no fix yet), and 2 more; update it to a version where they are fixed")
}

test_counts_without_a_list_still_deny if {
	some v in vulns.violation with input as pod(scanned({"critical": 1}))
	v.msg == `container "web" image "registry.example.com/web:1.4" has 1 critical vulnerability above the allowed maximum "high"; update it to a version where it is fixed`
}

test_list_longer_than_the_counts_wins if {
	some v in vulns.violation with input as pod(scanned({"critical": 0, "vulnerabilities": [vuln("CVE-1", "critical", "a", "1", "2")]}))
	v.details.counts == {"critical": 1}
}

test_vulnerabilities_at_the_maximum_are_allowed if {
	count(vulns.violation) == 0 with input as pod(scanned({"critical": 0, "high": 3, "low": 9, "vulnerabilities": [vuln("CVE-9", "high", "zlib", "1.2", "")]}))
}

test_clean_image_is_allowed if {
	count(vulns.violation) == 0 with input as pod(scanned({"critical": 0, "high": 0, "medium": 0, "low": 0, "vulnerabilities": []}))
		with data.bailiff.config.images.maxSeverity as "none"
}

test_unscanned_image_is_left_to_blf_img_005 if {
	count(vulns.violation) == 0 with input as pod({"scanned": false, "unscanned_reason": "pending", "scan": {"critical": 5}})
}

test_unparsable_reference_is_left_to_blf_img_006 if {
	count(vulns.violation) == 0 with input as pod({"error": "bad reference", "scanned": true, "scan": {"critical": 5}})
}

test_init_containers_are_checked if {
	inp := {
		"request": {"kind": {"kind": "Job"}, "object": {"spec": {"template": {"spec": {"initContainers": [{"name": "migrate", "image": ref}], "containers": []}}}}},
		"context": {"images": {ref: scanned({"critical": 1})}},
	}
	some v in vulns.violation with input as inp
	v.field == "spec.template.spec.initContainers[0].image"
	startswith(v.msg, `init container "migrate" image`)
}
