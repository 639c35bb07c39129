// Package store is Bailiff's central store: the audit trail, audit findings,
// image scan results and the credentials of the clusters that write to it.
//
// One interface, two implementations that pass one conformance suite
// (storetest): SQLite, embedded and pure Go, and PostgreSQL for fleets.
// Schema changes are versioned migrations applied by Open.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is returned when a single requested record does not exist.
var ErrNotFound = errors.New("not found")

// Store is everything Bailiff keeps centrally. All methods are safe for
// concurrent use, also from several processes sharing one database.
type Store interface {
	// AppendEvents stores events of one cluster, in the order given, at the
	// end of that cluster's hash chain. An event whose ID the cluster has
	// already stored is skipped, so a batch delivered twice is stored once.
	// For each new event the store assigns Seq and PrevHash under a lock on
	// the cluster's chain head and sets Hash to hash(event). Either the whole
	// batch is stored or none of it.
	AppendEvents(ctx context.Context, cluster string, events []Event, hash HashFunc) (AppendResult, error)
	// Events returns events matching q, oldest first, one page at a time:
	// in chain order (by Seq) when q names a Cluster, otherwise by Time, then
	// Cluster and Seq.
	Events(ctx context.Context, q EventQuery) (EventPage, error)
	// ChainHead returns the last event of a cluster's chain (ErrNotFound if it has none).
	ChainHead(ctx context.Context, cluster string) (Event, error)
	// RecordedHead returns the Seq and Hash of the chain head that the
	// cluster's appends recorded, kept apart from the events so that
	// verification notices events deleted from the chain's end (ErrNotFound,
	// with Seq 0, if the cluster never appended).
	RecordedHead(ctx context.Context, cluster string) (seq int64, hash string, err error)
	// Clusters lists every cluster the store holds events or objects of, by name.
	Clusters(ctx context.Context) ([]ClusterInfo, error)

	// SyncFindings records the result of evaluating one object: violations
	// not open before are opened, open ones no longer reported are resolved,
	// and the object's evaluation time is recorded (so passing objects are
	// known too). It returns what changed. A result older than the object's
	// last recorded evaluation (or its ForgetObject) changes nothing.
	SyncFindings(ctx context.Context, result ObjectResult) (FindingChanges, error)
	// Findings returns findings matching q, oldest (by FirstSeen) first, one page at a time.
	Findings(ctx context.Context, q FindingQuery) (FindingPage, error)
	// OpenFindingsByPolicy counts a cluster's open findings and the objects
	// they are on, per policy, most findings first.
	OpenFindingsByPolicy(ctx context.Context, cluster string) ([]PolicyFindings, error)
	// ForgetObject resolves all open findings of an object that no longer exists.
	ForgetObject(ctx context.Context, cluster, uid string, at time.Time) (FindingChanges, error)
	// RecordAudit records a batch of one cluster's audit results and
	// deletions in one transaction: each result as SyncFindings records it,
	// then each deletion as ForgetObject does, then the trail events that
	// batch.Events makes of what changed, appended to the cluster's chain as
	// AppendEvents appends them. Either all of it is stored or none.
	RecordAudit(ctx context.Context, batch AuditBatch, hash HashFunc) (AuditOutcome, error)

	// PutReport keeps a signed compliance report; reports are never changed.
	PutReport(ctx context.Context, r ReportRecord) error
	// Reports lists reports matching q without their bodies, newest first, one page at a time.
	Reports(ctx context.Context, q ReportQuery) (ReportPage, error)
	// Report returns one report with its body (ErrNotFound if none).
	Report(ctx context.Context, id string) (ReportRecord, error)

	// PutScan stores the scan result of an image digest, replacing an older one.
	PutScan(ctx context.Context, scan ScanRecord) error
	// Scan returns the stored scan result of a digest (ErrNotFound if none).
	Scan(ctx context.Context, digest string) (ScanRecord, error)

	// PutCredential creates or replaces a credential, keyed by its name.
	PutCredential(ctx context.Context, c Credential) error
	// CredentialByTokenHash finds the credential whose token hashes to h (ErrNotFound if none).
	CredentialByTokenHash(ctx context.Context, h string) (Credential, error)
	// DeleteCredential removes a credential by name (ErrNotFound if none).
	DeleteCredential(ctx context.Context, name string) error

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// HashFunc computes an event's hash once the store has set its Seq and PrevHash.
// The trail package provides it (trail.Hash); the store only calls it.
type HashFunc func(e Event) (string, error)

// Event is one audit-trail record. See DESIGN.md, "The audit trail and the store".
//
// The store keeps Time in UTC truncated to microseconds (before hashing, so
// a stored event hashes as it did when appended), reads empty Groups,
// Violations, Patch and Details back as nil, and keeps Patch and Details
// byte for byte.
type Event struct {
	// ID is chosen by the emitter and unique within a cluster; it makes
	// delivery idempotent.
	ID      string    `json:"id"`
	Cluster string    `json:"cluster"`
	Time    time.Time `json:"time"`
	// Source is admission, audit, exemption or config.
	Source    string   `json:"source"`
	User      string   `json:"user,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	Operation string   `json:"operation,omitempty"`
	// APIVersion and Kind name the object's type, e.g. "apps/v1" and "Deployment".
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	UID        string `json:"uid,omitempty"`
	// Decision is what happened: allowed, denied, warned for admission;
	// opened, resolved for audit findings; used for exemptions; loaded,
	// rejected for config and policy changes.
	Decision   string      `json:"decision"`
	DryRun     bool        `json:"dryRun,omitempty"`
	Violations []Violation `json:"violations,omitempty"`
	// Patch is the mutation applied, an RFC 6902 JSON Patch.
	Patch            json.RawMessage `json:"patch,omitempty"`
	PolicySetVersion string          `json:"policySetVersion,omitempty"`
	// Details carries source-specific facts (an exemption's owner and expiry,
	// a config change's digest) that have no column of their own.
	Details json.RawMessage `json:"details,omitempty"`

	// Set by the store on append.
	Seq      int64  `json:"seq"`
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// Violation is one policy's verdict on an object, as recorded in an event or a finding.
type Violation struct {
	PolicyID    string `json:"policyId"`
	Severity    string `json:"severity,omitempty"`
	Enforcement string `json:"enforcement,omitempty"`
	Message     string `json:"message"`
	Field       string `json:"field,omitempty"`
}

// AppendResult says what AppendEvents did.
type AppendResult struct {
	Stored     int   // new events appended
	Duplicates int   // events skipped because their ID was already stored
	LastSeq    int64 // the cluster's chain head after the append
}

// TimeRange bounds a query; a zero From or To leaves that side open. From is
// inclusive, To exclusive.
type TimeRange struct {
	From, To time.Time
}

// EventQuery selects events. Empty fields match everything.
type EventQuery struct {
	Cluster   string
	Namespace string
	Kind      string
	PolicyID  string // events naming this policy among their violations
	User      string
	Source    string
	Decision  string
	UID       string // the object's metadata.uid
	Time      TimeRange
	// FromSeq and ToSeq bound the chain position (inclusive), for verification; need Cluster.
	FromSeq, ToSeq int64
	// Cursor continues a previous page; empty starts at the beginning.
	Cursor string
	// Limit caps the page size; zero means 100, the maximum is 1000.
	Limit int
}

// EventPage is one page of events; Next is empty on the last page.
type EventPage struct {
	Events []Event
	Next   string
}

// ObjectRef identifies a cluster object.
type ObjectRef struct {
	Cluster    string `json:"cluster"`
	UID        string `json:"uid"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// ObjectResult is the outcome of evaluating one object; no violations means it passes.
type ObjectResult struct {
	Object           ObjectRef
	EvaluatedAt      time.Time
	PolicySetVersion string
	Violations       []Violation
}

// Finding is one violation of one policy by one object, open until the object
// complies or disappears.
type Finding struct {
	ID string `json:"id"`
	ObjectRef
	Violation
	FirstSeen  time.Time  `json:"firstSeen"`
	LastSeen   time.Time  `json:"lastSeen"`
	ResolvedAt *time.Time `json:"resolvedAt,omitempty"`
}

// FindingChanges lists what a sync opened and resolved.
type FindingChanges struct {
	Opened   []Finding
	Resolved []Finding
}

// ClusterInfo is what the store holds of one cluster.
type ClusterInfo struct {
	Name string `json:"name"`
	// Head is the cluster's recorded chain head (see Store.RecordedHead); nil
	// when the cluster has no events. Its Time is the head event's, zero when
	// that event is no longer stored.
	Head *ChainPosition `json:"head,omitempty"`
	// Objects counts the objects audited and not deleted.
	Objects int64 `json:"objects"`
	// OpenFindings counts the findings not resolved, OpenBySeverity by their
	// severity ("" for none).
	OpenFindings   int64            `json:"openFindings"`
	OpenBySeverity map[string]int64 `json:"openBySeverity,omitempty"`
}

// AuditBatch is what RecordAudit records: results and deletions of objects
// of one cluster.
type AuditBatch struct {
	Cluster string
	// Results are recorded in order; each Object.Cluster must be Cluster.
	Results []ObjectResult
	// Deletions are recorded after the results.
	Deletions []ObjectDeletion
	// Events, if set, makes the trail events of what one item changed: item
	// i is Results[i], or Deletions[i-len(Results)] past the results. It is
	// called once per item, in order, with the changes also returned in
	// AuditOutcome.Changes.
	Events func(item int, changes FindingChanges) []Event
}

// ObjectDeletion says that an object was gone at DeletedAt.
type ObjectDeletion struct {
	UID       string
	DeletedAt time.Time
}

// AuditOutcome is what RecordAudit changed: the changes of each item of the
// batch, results then deletions, and the append of their events.
type AuditOutcome struct {
	Changes []FindingChanges
	Append  AppendResult
}

// PolicyFindings counts one policy's open findings in a cluster.
type PolicyFindings struct {
	PolicyID string `json:"policyId"`
	// Severity is the policy's severity as its findings record it (the
	// highest by name if a re-rating left several).
	Severity string `json:"severity"`
	Findings int64  `json:"findings"`
	Objects  int64  `json:"objects"`
}

// FindingQuery selects findings. Empty fields match everything.
type FindingQuery struct {
	Cluster   string
	Namespace string
	Kind      string
	PolicyID  string
	Severity  string
	UID       string // the object's metadata.uid
	// State is open, resolved or empty for both.
	State string
	// Time keeps findings whose life overlaps it: opened before To, and
	// still open or resolved at or after From.
	Time   TimeRange
	Cursor string
	Limit  int
}

// FindingPage is one page of findings; Next is empty on the last page.
type FindingPage struct {
	Findings []Finding
	Next     string
}

// ReportRecord is a stored compliance report.
type ReportRecord struct {
	ID string `json:"id"`
	// Cluster is the cluster reported on; "" for a fleet report.
	Cluster     string    `json:"cluster"`
	Scope       string    `json:"scope"`
	Frameworks  []string  `json:"frameworks"`
	GeneratedAt time.Time `json:"generatedAt"`
	PeriodFrom  time.Time `json:"periodFrom,omitzero"`
	PeriodTo    time.Time `json:"periodTo"`
	// TrailOK says every trail range the report covers verified.
	TrailOK bool `json:"trailOk"`
	// Summary is the report's per-framework scores, as the report holds them (JSON).
	Summary json.RawMessage `json:"summary"`
	// Size is the body's length in bytes.
	Size int64 `json:"size"`
	// Body is the signed report (JSON); only Report fills it.
	Body []byte `json:"-"`
}

// ReportQuery selects reports. Empty fields match everything.
type ReportQuery struct {
	// Cluster, when set, selects one cluster's reports ("" the fleet's).
	Cluster   *string
	Framework string
	Time      TimeRange // of GeneratedAt
	Cursor    string
	Limit     int
}

// ReportPage is one page of reports; Next is empty on the last page.
type ReportPage struct {
	Reports []ReportRecord
	Next    string
}

// ScanRecord is the vulnerability scan of one image digest.
type ScanRecord struct {
	Digest      string    `json:"digest"`
	ScannedAt   time.Time `json:"scannedAt"`
	DBUpdatedAt time.Time `json:"dbUpdatedAt"`
	// Result is the scan summary as the scanner serves it (JSON).
	Result json.RawMessage `json:"result"`
}

// Roles a credential can hold.
const (
	RoleCluster = "cluster" // writes its own cluster's events and findings
	RoleAuditor = "auditor" // reads everything
	RoleAdmin   = "admin"   // everything, including credentials
)

// Credential lets a client call the server. Only the token's hash is stored.
type Credential struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Cluster is the only cluster a RoleCluster credential may write.
	Cluster   string    `json:"cluster,omitempty"`
	TokenHash string    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
}
