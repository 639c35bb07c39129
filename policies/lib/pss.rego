# METADATA
# title: Pod Security Standards helpers
# description: >-
#   Shared by the podsecurity family: the enforced Pod Security Standards level, whether a
#   check is enforced at that level (upstream Pod Security Admission's rules, overrides
#   included), the pod-level facts that relax some checks, and field paths. The policies
#   read fields with object.get(..., null) and treat an explicit null as unset, as the API
#   server's decoding (and so upstream) does.
# scope: package
package bailiff.lib.pss

import data.bailiff.lib.k8s

# The levels, from least to most strict.
rank := {"privileged": 0, "baseline": 1, "restricted": 2}

# The level configured in podSecurity.level, as written.
configured_level := data.bailiff.config.podSecurity.level

# The enforced level. Absent, it is data.yaml's default (baseline); a value that is not a
# level enforces restricted, as upstream's api.ParseLevel does (the config schema should
# have refused it already).
default level := "baseline"

level := configured_level if rank[configured_level]

level := "restricted" if {
	configured_level
	not rank[configured_level]
}

# Baseline checks that upstream does not run at the restricted level, because a restricted
# check replaces them (VersionedCheck.OverrideCheckIDs in k8s.io/pod-security-admission).
# Running the replaced check there would change verdicts: the restricted checks exempt
# Windows pods and accept a volume with several sources, so they are not always stricter.
replaced_at_restricted := {
	"capabilities_baseline": "capabilities_restricted",
	"hostPathVolumes": "restrictedVolumes",
	"procMount": "procMount_restricted",
	"seccompProfile_baseline": "seccompProfile_restricted",
}

# check(chain) is the custom.pss object ({level, check}) of the policy whose
# rego.metadata.chain() is given, so each policy names its upstream check only once.
check(chain) := p if {
	some entry in chain
	p := entry.annotations.custom.pss
}

# enforced(p) holds when upstream Pod Security Admission runs check p at the enforced level.
enforced(p) if {
	rank[p.level] <= rank[level]
	not replaced(p.check)
}

replaced(name) if {
	level == "restricted"
	replaced_at_restricted[name]
}

# finding(p, v) is violation v of check p: as written when p is enforced, otherwise with
# "enforcement": "audit" (allowed, but recorded so compliance reports see every level).
finding(p, v) := object.union(v, annotation(p))

# annotation(p) is what finding adds to each violation of check p. A function of p alone,
# so OPA computes it once per policy and evaluation.
annotation(p) := {} if enforced(p)

annotation(p) := {"enforcement": "audit"} if not enforced(p)

# The path of a field of the pod spec: pod_field("securityContext.runAsUser").
pod_field(suffix) := sprintf("%s.%s", [k8s.pod_spec_field, suffix])

# The path of a pod annotation: metadata.annotations["key"] (or the template's).
annotation_field(key) := sprintf("%s.annotations[%q]", [concat(".", k8s.pod_meta_keys[k8s.kind]), key])

# The pod declares spec.os.name: windows; some restricted checks exempt such pods because
# the API server refuses those Linux-only fields on them.
windows if k8s.pod_spec.os.name == "windows"

# The pod runs in its own user namespace (spec.hostUsers: false), which relaxes the
# procMount, runAsNonRoot and runAsUser checks.
user_namespace if k8s.pod_spec.hostUsers == false
