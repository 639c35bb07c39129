package images

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/input"
)

// ScanStatus says whether a digest has a result that policies may trust.
type ScanStatus string

// Scan statuses. Only ScanDone carries a Summary; every other status is "not
// scanned" for the policies, never "clean".
const (
	ScanDone        ScanStatus = "scanned"
	ScanPending     ScanStatus = "pending"     // queued or running; retry in a moment
	ScanFailed      ScanStatus = "failed"      // the last attempt failed; retried with backoff
	ScanUnavailable ScanStatus = "unavailable" // no usable vulnerability database
)

// Vulnerability is one known vulnerability of an installed package.
type Vulnerability struct {
	ID        string `json:"id"`
	Severity  string `json:"severity"` // critical, high, medium, low or unknown
	Package   string `json:"package"`
	Installed string `json:"installed"`
	Fixed     string `json:"fixed,omitempty"`
	Title     string `json:"title,omitempty"`
}

// MaxListedVulnerabilities caps the vulnerabilities a Summary lists, most severe
// first; the counts always cover all of them.
const MaxListedVulnerabilities = 100

// Summary is the vulnerability scan of one image digest.
type Summary struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Unknown  int `json:"unknown"`
	// Fixable counts vulnerabilities with a fixed version available.
	Fixable         int             `json:"fixable"`
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
	// Truncated is how many vulnerabilities were left out of the list.
	Truncated   int       `json:"truncated,omitempty"`
	DBUpdatedAt time.Time `json:"db_updated_at"`
	ScannedAt   time.Time `json:"scanned_at"`
}

// Summarise counts vulns by severity and keeps the most severe
// MaxListedVulnerabilities of them, in a stable order.
func Summarise(vulns []Vulnerability, dbUpdatedAt, scannedAt time.Time) Summary {
	s := Summary{DBUpdatedAt: dbUpdatedAt.UTC(), ScannedAt: scannedAt.UTC()}
	list := make([]Vulnerability, 0, len(vulns))
	for _, v := range vulns {
		v.Severity = strings.ToLower(v.Severity)
		switch v.Severity {
		case "critical":
			s.Critical++
		case "high":
			s.High++
		case "medium":
			s.Medium++
		case "low":
			s.Low++
		default:
			v.Severity = "unknown"
			s.Unknown++
		}
		if v.Fixed != "" {
			s.Fixable++
		}
		list = append(list, v)
	}
	slices.SortStableFunc(list, func(a, b Vulnerability) int {
		return cmp.Or(
			cmp.Compare(severityRank(b.Severity), severityRank(a.Severity)),
			cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.Package, b.Package),
		)
	})
	if len(list) > MaxListedVulnerabilities {
		s.Truncated = len(list) - MaxListedVulnerabilities
		list = list[:MaxListedVulnerabilities]
	}
	s.Vulnerabilities = list
	return s
}

func severityRank(s string) int {
	switch s {
	case "critical":
		return 4
	case "high":
		return 3
	case "medium":
		return 2
	case "low":
		return 1
	}
	return 0
}

// ScanResult is what is known of one digest's scan.
type ScanResult struct {
	Digest string     `json:"digest"`
	Status ScanStatus `json:"status"`
	// Reason explains a status other than ScanDone, for people.
	Reason  string   `json:"reason,omitempty"`
	Summary *Summary `json:"summary,omitempty"`
}

// Scanned reports whether r carries a trustworthy summary.
func (r ScanResult) Scanned() bool { return r.Status == ScanDone && r.Summary != nil }

// UnscannedReason is the input's unscanned_reason for a result that is not
// ScanDone, in the words policy BLF-IMG-005 explains.
func (r ScanResult) UnscannedReason() string {
	switch r.Status {
	case ScanDone:
		return ""
	case ScanPending:
		return "pending"
	case ScanFailed:
		return "failed: " + r.Reason
	}
	if r.Reason != "" {
		return r.Reason
	}
	return string(r.Status)
}

// Apply records r in an image description of input.context.images.
func (r ScanResult) Apply(img *input.Image) {
	if !r.Scanned() {
		img.Scanned = false
		img.UnscannedReason = r.UnscannedReason()
		img.Scan = nil
		return
	}
	s := r.Summary
	out := &input.ScanResult{
		Critical: s.Critical, High: s.High, Medium: s.Medium, Low: s.Low, Fixable: s.Fixable,
		DBUpdatedAt:     s.DBUpdatedAt.UTC().Format(time.RFC3339),
		ScannedAt:       s.ScannedAt.UTC().Format(time.RFC3339),
		Vulnerabilities: make([]input.Vulnerability, len(s.Vulnerabilities)),
	}
	for i, v := range s.Vulnerabilities {
		out.Vulnerabilities[i] = input.Vulnerability{ID: v.ID, Severity: v.Severity, Package: v.Package, Installed: v.Installed, Fixed: v.Fixed}
	}
	img.Scanned = true
	img.UnscannedReason = ""
	img.Scan = out
}

// ScanRequest asks for the scan of one image digest.
type ScanRequest struct {
	// Image is the image to pull, pinned by digest: "registry/repo@sha256:…"
	// (a tag before the digest is allowed and ignored).
	Image string `json:"image"`
	// Digest keys the result; it must be the digest Image names.
	Digest string `json:"digest"`
	// Pull names the Kubernetes credentials the image is pulled with.
	Pull PullCredentials `json:"pull,omitzero"`
}

// DBStatus describes the vulnerability database a scanner uses.
type DBStatus struct {
	// Usable is false when the database is missing, empty or older than the
	// configured maximum age; Reason then says which.
	Usable    bool      `json:"usable"`
	Reason    string    `json:"reason,omitempty"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	// NextUpdate is when the publisher expects a newer database.
	NextUpdate time.Time `json:"nextUpdate,omitzero"`
}

// Scanner scans images. The Trivy implementation lives in pkg/images/trivyscan,
// linked only by cmd/bailiff-scanner.
type Scanner interface {
	// Scan pulls the image and lists its vulnerabilities.
	Scan(ctx context.Context, req ScanRequest) (Summary, error)
	// DB describes the database Scan would use now.
	DB() DBStatus
}
