// Package reports turns what the central store knows about a cluster (open findings,
// admission decisions, the audit trail) into signed compliance reports, and renders
// them as JSON (the source of truth), CSV, HTML and PDF.
//
// A report is a snapshot: for one cluster or the fleet, at one time, for each
// framework of pkg/compliance, each control's status with its evidence and each
// framework's score, plus the range of the trail it covers and whether that range
// verifies. Generate builds one from a Source (StoreSource adapts a store.Store);
// Sign seals it with Ed25519 over its canonical JSON (RFC 8785), after which it is
// never changed: every rendering is made from the signed report.
package reports

import (
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
)

// SchemaV1 identifies the version of the report's JSON schema. A change that a
// reader of v1 would misread gets a new version.
const SchemaV1 = "bailiff.io/report/v1"

// Scopes of a report.
const (
	ScopeCluster = "cluster"
	ScopeFleet   = "fleet"
)

// Report is one compliance snapshot. It is the JSON schema's root.
type Report struct {
	Schema string `json:"schema"`
	// ID is derived from the report's content (see Finalize): two reports with the
	// same ID say the same thing.
	ID          string    `json:"id"`
	Scope       string    `json:"scope"`
	GeneratedAt time.Time `json:"generatedAt"`
	// Period is what the report covers: admission activity and the trail range are
	// taken from it; findings are those open at Period.To, the snapshot time.
	Period    Period        `json:"period"`
	Generator GeneratorInfo `json:"generator"`
	// Frameworks are the frameworks reported on, in the order the sections follow.
	Frameworks []FrameworkInfo `json:"frameworks"`
	// Summary scores each framework across all clusters of the report.
	Summary []FrameworkSummary `json:"summary"`
	// Clusters holds one entry for a cluster report, every cluster for the fleet.
	Clusters []ClusterReport `json:"clusters"`
	// Signature seals everything above; nil until signed.
	Signature *Signature `json:"signature,omitempty"`
}

// Period is a time range: From inclusive (zero: since the trail began), To exclusive.
type Period struct {
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to"`
}

// GeneratorInfo says what produced the report.
type GeneratorInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// PolicySetVersion identifies the policies loaded when the report was made; the
	// catalogue's mapping of controls to policies is part of the binary.
	PolicySetVersion string `json:"policySetVersion,omitempty"`
}

// FrameworkInfo identifies a framework reported on.
type FrameworkInfo struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
	URL     string `json:"url,omitempty"`
}

// FrameworkSummary is a framework's score across the report's clusters.
type FrameworkSummary struct {
	Framework string            `json:"framework"`
	Score     *float64          `json:"score"`
	Controls  compliance.Tally  `json:"controls"`
	Clusters  []ClusterScoreRef `json:"clusters,omitempty"` // fleet reports: each cluster's score
}

// ClusterScoreRef is one cluster's score for a framework, in a fleet summary.
type ClusterScoreRef struct {
	Cluster string   `json:"cluster"`
	Score   *float64 `json:"score"`
}

// ClusterReport is the snapshot of one cluster.
type ClusterReport struct {
	Cluster string `json:"cluster"`
	// Trail is the range of the cluster's audit trail the report covers and its
	// verification. A broken range still gives a report, marked Broken.
	Trail TrailRange `json:"trail"`
	// Admissions counts the admission decisions recorded in the period.
	Admissions AdmissionTotals `json:"admissions"`
	// OpenFindings counts the findings open at the snapshot time, all policies.
	OpenFindings int               `json:"openFindings"`
	Frameworks   []FrameworkResult `json:"frameworks"`
}

// Trail states.
const (
	TrailIntact = "intact" // every event of the range verified
	TrailBroken = "broken" // the chain breaks inside the range (see Break)
	TrailEmpty  = "empty"  // no event in the period
)

// TrailRange is the part of a cluster's hash chain a report covers. FromSeq..ToSeq
// and LastHash can be checked against the trail with `bailiff trail verify
// --from-seq --to-seq`: the event at ToSeq must have hash LastHash.
type TrailRange struct {
	Status   string `json:"status"`
	FromSeq  int64  `json:"fromSeq,omitempty"`
	ToSeq    int64  `json:"toSeq,omitempty"`
	Events   int64  `json:"events"`
	LastHash string `json:"lastHash,omitempty"`
	// Break names the first event that fails verification; counts and LastHash
	// then cover the events before it.
	Break *TrailBreak `json:"break,omitempty"`
}

// TrailBreak is where and why a chain fails verification.
type TrailBreak struct {
	Seq     int64  `json:"seq"`
	EventID string `json:"eventId"`
	Reason  string `json:"reason"`
}

// Broken says whether the report's trail range failed verification.
func (t TrailRange) Broken() bool { return t.Status == TrailBroken }

// AdmissionTotals counts admission decisions of a period by outcome; dry runs are
// counted apart and not in the others.
type AdmissionTotals struct {
	Total   int `json:"total"`
	Allowed int `json:"allowed"`
	Warned  int `json:"warned"`
	Denied  int `json:"denied"`
	DryRuns int `json:"dryRuns"`
}

// FrameworkResult is one framework's verdict on one cluster.
type FrameworkResult struct {
	Framework string           `json:"framework"`
	Score     *float64         `json:"score"`
	Controls  compliance.Tally `json:"controls"`
	Results   []ControlResult  `json:"results"`
}

// ControlResult is one control's status and the evidence for it.
type ControlResult struct {
	Control    string            `json:"control"`
	Section    string            `json:"section"`
	Title      string            `json:"title"`
	Automation string            `json:"automation"` // policies, trail or manual
	Status     compliance.Status `json:"status"`
	// Reason says in one sentence why the status is what it is.
	Reason   string `json:"reason"`
	Guidance string `json:"guidance,omitempty"`
	// Policies are the automating policies' parts of the evidence, in catalogue order.
	Policies []PolicyEvidence `json:"policies,omitempty"`
	// Failing are the resources that violate the control's policies, oldest first.
	Failing []ResourceEvidence `json:"failing,omitempty"`
}

// PolicyEvidence is what one automating policy shows for a control.
type PolicyEvidence struct {
	Policy      string `json:"policy"`
	Title       string `json:"title,omitempty"`
	Severity    string `json:"severity,omitempty"`
	Enforcement string `json:"enforcement,omitempty"`
	// Loaded is false when the policy set in force does not have the policy.
	Loaded bool `json:"loaded"`
	// OpenFindings counts this policy's findings open at the snapshot time.
	OpenFindings int `json:"openFindings"`
	// Admission is what the policy did at admission in the period.
	Admission PolicyAdmissions `json:"admission"`
}

// PolicyAdmissions counts the admission decisions in which a policy found a
// violation, by what became of the request; dry runs excluded.
type PolicyAdmissions struct {
	Denied   int `json:"denied"`
	Warned   int `json:"warned"`
	Allowed  int `json:"allowed"`  // the violation was audit-only or exempted
	Exempted int `json:"exempted"` // exemption uses recorded for this policy
}

// Decisions is how many admission decisions the policy took part in.
func (a PolicyAdmissions) Decisions() int { return a.Denied + a.Warned + a.Allowed }

// ResourceEvidence is one resource that fails a control, with each violation.
type ResourceEvidence struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	// FirstSeen is when the oldest of its open violations was first found.
	FirstSeen  time.Time           `json:"firstSeen"`
	Violations []ViolationEvidence `json:"violations"`
}

// ViolationEvidence is one open finding behind a failing resource.
type ViolationEvidence struct {
	Finding   string    `json:"finding"`
	Policy    string    `json:"policy"`
	Severity  string    `json:"severity,omitempty"`
	Message   string    `json:"message"`
	Field     string    `json:"field,omitempty"`
	FirstSeen time.Time `json:"firstSeen"`
	// Events are the trail events that recorded the finding.
	Events []EventRef `json:"events,omitempty"`
}

// EventRef points at one trail event.
type EventRef struct {
	Seq int64  `json:"seq"`
	ID  string `json:"id"`
}

// Signature seals a report: Ed25519 over the canonical JSON (RFC 8785) of the report
// without its signature member.
type Signature struct {
	Algorithm string `json:"algorithm"` // "Ed25519"
	// KeyID is "sha256:" and the hex SHA-256 of the public key's raw 32 bytes.
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"` // base64 (standard, padded) of the raw key
	Value     string `json:"value"`     // base64 of the 64-byte signature
}

// Cluster returns the report of one cluster, if the report has it.
func (r *Report) Cluster(name string) (*ClusterReport, bool) {
	for i := range r.Clusters {
		if r.Clusters[i].Cluster == name {
			return &r.Clusters[i], true
		}
	}
	return nil, false
}

// FrameworkInfo returns the description of a framework of the report.
func (r *Report) FrameworkInfo(id string) FrameworkInfo {
	for _, f := range r.Frameworks {
		if f.ID == id {
			return f
		}
	}
	return FrameworkInfo{ID: id, Name: id}
}

// BrokenTrails lists the clusters whose trail range failed verification.
func (r *Report) BrokenTrails() []string {
	var out []string
	for _, c := range r.Clusters {
		if c.Trail.Broken() {
			out = append(out, c.Cluster)
		}
	}
	return out
}
