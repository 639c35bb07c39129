package bailiff.images.unscanned_test

import data.bailiff.images.unscanned

ref := "ghcr.io/acme/api:2.1"

pod(entry) := {
	"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [{"name": "api", "image": ref}]}}},
	"context": {"images": {ref: object.union({"registry": "ghcr.io", "repository": "acme/api", "tag": "2.1", "digest": ""}, entry)}},
}

test_pending_scan_warns_by_default if {
	vs := unscanned.violation with input as pod({"scanned": false, "unscanned_reason": "pending"})
	count(vs) == 1
	some v in vs
	v.enforcement == "warn"
	v.field == "spec.containers[0].image"
	contains(v.msg, `container "api" image "ghcr.io/acme/api:2.1" has no vulnerability scan result (scan pending, retry in a moment)`)
	contains(v.msg, "(images.unscanned: warn)")
}

test_deny_mode_carries_deny if {
	some v in unscanned.violation with input as pod({"scanned": false, "unscanned_reason": "pending"})
		with data.bailiff.config.images.unscanned as "deny"
	v.enforcement == "deny"
	contains(v.msg, "images without a scan result are refused")
}

test_audit_mode_carries_audit if {
	some v in unscanned.violation with input as pod({"scanned": false, "unscanned_reason": "pending"})
		with data.bailiff.config.images.unscanned as "audit"
	v.enforcement == "audit"
}

test_allow_mode_reports_nothing if {
	count(unscanned.violation) == 0 with input as pod({"scanned": false, "unscanned_reason": "pending"})
		with data.bailiff.config.images.unscanned as "allow"
}

test_reasons_are_explained if {
	some failed in unscanned.violation with input as pod({"scanned": false, "unscanned_reason": "failed: manifest unknown"})
	contains(failed.msg, "(scan failed: manifest unknown);")
	some stale in unscanned.violation with input as pod({"scanned": false, "unscanned_reason": "db stale"})
	contains(stale.msg, "(the vulnerability database is out of date")
	some unknown in unscanned.violation with input as pod({"scanned": false})
	contains(unknown.msg, "(no scan result is known for it)")
	some other in unscanned.violation with input as pod({"scanned": false, "unscanned_reason": "registry unreachable"})
	contains(other.msg, "(registry unreachable)")
}

test_scanned_image_is_allowed if {
	count(unscanned.violation) == 0 with input as pod({"scanned": true, "scan": {"critical": 3}})
		with data.bailiff.config.images.unscanned as "deny"
}

test_unparsable_reference_is_left_to_blf_img_006 if {
	count(unscanned.violation) == 0 with input as pod({"error": "invalid reference format", "scanned": false})
}

test_image_missing_from_context_is_not_judged if {
	inp := {"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [{"name": "api", "image": ref}]}}}, "context": {"images": {}}}
	count(unscanned.violation) == 0 with input as inp
}

test_offline_scan_reports_nothing_per_image if {
	offline := {
		"request": {"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}},
		"context": {"mode": "scan", "images": {"nginx:1": {"registry": "docker.io", "repository": "library/nginx", "scanned": false, "unscanned_reason": "offline"}}},
	}
	count(unscanned.violation) == 0 with input as offline with data.bailiff.config.images.unscanned as "deny"
}
