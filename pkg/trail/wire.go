package trail

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

// The wire format between a cluster's emitter and the central server.
//
//	POST /api/v1/events
//	Authorization: Bearer <token>
//	{"cluster": "...", "events": [store.Event, ...]}
//
// answered with IngestResponse on 2xx and ErrorResponse otherwise.
const (
	EventsPath = "/api/v1/events"
	// VerifyPathPattern is the verification endpoint, {cluster} being the cluster's name.
	VerifyPathPattern = "/api/v1/clusters/{cluster}/verify"
	// ClustersPath lists the clusters the server holds: GET answers ClusterList.
	ClustersPath = "/api/v1/clusters"
)

// IngestRequest is a batch of one cluster's events.
type IngestRequest struct {
	Cluster string        `json:"cluster"`
	Events  []store.Event `json:"events"`
}

// IngestResponse says what the server did with a batch.
type IngestResponse struct {
	Stored     int   `json:"stored"`
	Duplicates int   `json:"duplicates"`
	LastSeq    int64 `json:"lastSeq"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// Event sources (store.Event.Source).
const (
	SourceAdmission = "admission"
	SourceAudit     = "audit"
	SourceExemption = "exemption"
	SourceConfig    = "config"
	// SourceServer marks events the central server records about itself, such
	// as refused writes, in the reserved ServerCluster chain. Clusters cannot
	// send them.
	SourceServer = "server"
)

// Sources are the sources a cluster may send.
var Sources = []string{SourceAdmission, SourceAudit, SourceExemption, SourceConfig}

// ServerCluster is the reserved chain in which the server records events about
// itself. Cluster names starting with "_" are reserved for such chains.
const ServerCluster = "_server"

// Limits of the fields a cluster sends.
const (
	MaxIDLength       = 128
	MaxClusterLength  = 253
	MaxDecisionLength = 64
	// MaxRawDepth bounds the nesting of Patch and Details: far beyond any real
	// patch, and low enough that canonicalising a hostile one stays cheap.
	MaxRawDepth = 64
)

var (
	clusterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	decisionRe  = regexp.MustCompile(`^[a-z][a-z_-]*$`)
)

// ValidateClusterName reports why name cannot name a cluster that sends
// events: empty, too long, reserved (leading "_") or holding characters
// other than letters, digits, ".", "_" and "-".
func ValidateClusterName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("cluster name is empty")
	case len(name) > MaxClusterLength:
		return fmt.Errorf("cluster name is longer than %d characters", MaxClusterLength)
	case strings.HasPrefix(name, "_"):
		return fmt.Errorf("cluster name %q is reserved: names starting with _ are the server's", name)
	case !clusterName.MatchString(name):
		return fmt.Errorf("cluster name %q may hold only letters, digits, '.', '_' and '-'", name)
	}
	return nil
}

// ValidateEvent reports the first reason a cluster may not send e: the fields
// the emitter sets (ID, Cluster, Time), a known Source, a Decision, a Patch
// that is a JSON array and Details that are a JSON object if present, and no
// Seq, PrevHash or Hash, which only the store assigns. Patch and Details must
// have a canonical form (no duplicate member names, numbers within the range
// of a double).
func ValidateEvent(e store.Event) error {
	switch {
	case e.ID == "":
		return fmt.Errorf("id is missing")
	case len(e.ID) > MaxIDLength:
		return fmt.Errorf("id is longer than %d characters", MaxIDLength)
	case e.Cluster == "":
		return fmt.Errorf("cluster is missing")
	case e.Time.IsZero():
		return fmt.Errorf("time is missing")
	case e.Source == "":
		return fmt.Errorf("source is missing")
	case !slices.Contains(Sources, e.Source):
		return fmt.Errorf("source %q is not one of %s", e.Source, strings.Join(Sources, ", "))
	case e.Decision == "":
		return fmt.Errorf("decision is missing")
	case len(e.Decision) > MaxDecisionLength || !decisionRe.MatchString(e.Decision):
		return fmt.Errorf("decision %q is not a lower-case word", e.Decision)
	case e.Seq != 0 || e.PrevHash != "" || e.Hash != "":
		return fmt.Errorf("seq, prevHash and hash are assigned by the store and must be empty")
	}
	if err := checkRawJSON(e.Patch, '[', "patch", "an RFC 6902 JSON Patch array"); err != nil {
		return err
	}
	return checkRawJSON(e.Details, '{', "details", "a JSON object")
}

// checkRawJSON checks that raw, if present and not null, opens with the given
// delimiter and has a canonical form, so the event can be hashed.
func checkRawJSON(raw []byte, open byte, field, want string) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	if t[0] != open {
		return fmt.Errorf("%s must be %s", field, want)
	}
	if _, err := canonicalize(t, MaxRawDepth); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

// ParseTime reads a time as the API and the command line take it: RFC 3339
// ("2025-06-01T08:00:00Z", fractions and offsets allowed) or a date
// ("2025-06-01", midnight UTC).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2025-06-01T08:00:00Z) nor a date (2025-06-01)", s)
}

// ClusterList is the answer of GET ClustersPath.
type ClusterList struct {
	Clusters []store.ClusterInfo `json:"clusters"`
}
