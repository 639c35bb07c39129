// Package results is how audit results reach the store: the wire format of the
// central server's results endpoint, its validation, and Apply, which records a
// batch of per-object results and deletions in a store and appends what they
// opened and resolved to the cluster's trail. The auditor's direct store sink
// and the server's endpoint both call Apply, so both write the same findings
// and the same trail events.
package results

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// The wire format between an auditor and the central server.
//
//	POST /api/v1/results
//	Authorization: Bearer <token of a cluster credential>
//	{"cluster": "...", "results": [ObjectResult, ...], "deletions": [Deletion, ...]}
//
// answered with Response on 2xx and trail.ErrorResponse otherwise.
const Path = "/api/v1/results"

// Decisions of audit trail events.
const (
	DecisionOpened   = "opened"
	DecisionResolved = "resolved"
)

// Limits of what one batch may hold.
const (
	MaxUIDLength  = 128
	MaxNameLength = 253
	// MaxFutureSkew is how far ahead of the receiver's clock a time may be. A
	// result from the future would make every later evaluation of its object
	// look stale, freezing its findings.
	MaxFutureSkew = 5 * time.Minute
	// MaxBodyBytes is the largest request body the central server accepts by
	// default (server.Options.MaxBodyBytes); a larger one is refused with 413.
	// The auditor keeps each encoded batch within it.
	MaxBodyBytes = 8 << 20
)

// Request is a batch of one cluster's audit results and deletions.
type Request struct {
	Cluster   string         `json:"cluster"`
	Results   []ObjectResult `json:"results,omitempty"`
	Deletions []Deletion     `json:"deletions,omitempty"`
}

// ObjectResult is the outcome of evaluating one object: its violations, none
// when it passes. It is store.ObjectResult as it travels, with the exemptions
// that began to excuse the object's violations since the auditor last reported
// it (every one in force after the auditor starts), each recorded in the trail
// as a use of that exemption.
type ObjectResult struct {
	Object           store.ObjectRef   `json:"object"`
	EvaluatedAt      time.Time         `json:"evaluatedAt"`
	PolicySetVersion string            `json:"policySetVersion,omitempty"`
	Violations       []store.Violation `json:"violations"`
	Exemptions       []ExemptionUse    `json:"exemptions,omitempty"`
}

// ExemptionUse is one exemption excusing violations of an object.
type ExemptionUse struct {
	Exemption  config.Exemption  `json:"exemption"`
	Violations []store.Violation `json:"violations"`
}

// DecisionUsed is the decision of an exemption's trail event.
const DecisionUsed = "used"

// Deletion says an object no longer exists, so its findings are resolved.
type Deletion struct {
	Object    store.ObjectRef `json:"object"`
	DeletedAt time.Time       `json:"deletedAt"`
}

// Response says what a batch changed.
type Response struct {
	Opened   int   `json:"opened"`   // findings opened
	Resolved int   `json:"resolved"` // findings resolved
	Events   int   `json:"events"`   // trail events appended
	LastSeq  int64 `json:"lastSeq"`  // the cluster's chain head after the append; 0 if nothing was appended
}

// Len is how many items the batch holds.
func (r Request) Len() int { return len(r.Results) + len(r.Deletions) }

// Validate reports the first reason the batch cannot be applied, naming the
// item by index: a bad cluster name, an object without UID, kind or name, an
// object of another cluster, a UID twice, a missing time or one further than
// MaxFutureSkew ahead of now, a violation without policy ID or message, or an
// unknown severity or enforcement.
func Validate(req Request, now time.Time) error {
	if err := trail.ValidateClusterName(req.Cluster); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if req.Len() == 0 {
		return errors.New("the batch holds no results and no deletions")
	}
	latest := now.Add(MaxFutureSkew)
	seen := make(map[string]int, len(req.Results))
	for i, r := range req.Results {
		at := fmt.Sprintf("results[%d]", i)
		if err := checkRef(req.Cluster, r.Object); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if j, dup := seen[r.Object.UID]; dup {
			return fmt.Errorf("%s: uid %q is also the uid of results[%d]", at, r.Object.UID, j)
		}
		seen[r.Object.UID] = i
		if err := checkTime("evaluatedAt", r.EvaluatedAt, latest); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		for k, v := range r.Violations {
			if err := checkViolation(v); err != nil {
				return fmt.Errorf("%s.violations[%d]: %w", at, k, err)
			}
		}
		for k, u := range r.Exemptions {
			if err := checkExemptionUse(u); err != nil {
				return fmt.Errorf("%s.exemptions[%d]: %w", at, k, err)
			}
		}
	}
	deleted := make(map[string]int, len(req.Deletions))
	for i, d := range req.Deletions {
		at := fmt.Sprintf("deletions[%d]", i)
		if err := checkRef(req.Cluster, d.Object); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if j, dup := deleted[d.Object.UID]; dup {
			return fmt.Errorf("%s: uid %q is also the uid of deletions[%d]", at, d.Object.UID, j)
		}
		deleted[d.Object.UID] = i
		if err := checkTime("deletedAt", d.DeletedAt, latest); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
	}
	return nil
}

func checkRef(cluster string, o store.ObjectRef) error {
	switch {
	case o.Cluster != "" && o.Cluster != cluster:
		return fmt.Errorf("object cluster %q is not the batch's cluster %q", o.Cluster, cluster)
	case o.UID == "":
		return errors.New("object uid is missing")
	case len(o.UID) > MaxUIDLength:
		return fmt.Errorf("object uid is longer than %d characters", MaxUIDLength)
	case o.Kind == "" || o.Name == "" || o.APIVersion == "":
		return errors.New("object apiVersion, kind and name are required")
	case len(o.Name) > MaxNameLength || len(o.Namespace) > MaxNameLength || len(o.Kind) > MaxNameLength || len(o.APIVersion) > MaxNameLength:
		return fmt.Errorf("object apiVersion, kind, namespace and name are at most %d characters", MaxNameLength)
	}
	return nil
}

func checkTime(field string, t, latest time.Time) error {
	switch {
	case t.IsZero():
		return fmt.Errorf("%s is missing", field)
	case t.After(latest):
		return fmt.Errorf("%s %s is more than %s ahead of the server's clock", field, t.Format(time.RFC3339), MaxFutureSkew)
	}
	return nil
}

// MaxExemptionText bounds an exemption's owner and reason.
const MaxExemptionText = 1024

func checkExemptionUse(u ExemptionUse) error {
	ex := u.Exemption
	switch {
	case ex.Policy == "":
		return errors.New("exemption policy is missing")
	case len(ex.Policy) > MaxNameLength || len(ex.Namespace) > MaxNameLength || len(ex.Kind) > MaxNameLength || len(ex.Name) > MaxNameLength:
		return fmt.Errorf("exemption policy, namespace, kind and name are at most %d characters", MaxNameLength)
	case len(ex.Owner) > MaxExemptionText || len(ex.Reason) > MaxExemptionText:
		return fmt.Errorf("exemption owner and reason are at most %d characters", MaxExemptionText)
	case len(u.Violations) == 0:
		return errors.New("an exemption use names the violations it excuses")
	}
	for k, v := range u.Violations {
		if err := checkViolation(v); err != nil {
			return fmt.Errorf("violations[%d]: %w", k, err)
		}
	}
	return nil
}

var (
	severities   = []string{"", "critical", "high", "medium", "low"}
	enforcements = []string{"", "deny", "warn", "audit"}
)

func checkViolation(v store.Violation) error {
	switch {
	case v.PolicyID == "":
		return errors.New("policyId is missing")
	case v.Message == "":
		return errors.New("message is missing")
	case !slices.Contains(severities, v.Severity):
		return fmt.Errorf("severity %q is not one of critical, high, medium, low", v.Severity)
	case !slices.Contains(enforcements, v.Enforcement):
		return fmt.Errorf("enforcement %q is not one of deny, warn, audit", v.Enforcement)
	}
	return nil
}

// Apply records a validated batch in st in one transaction (store.RecordAudit):
// each result's findings, then each deletion (results first, so a batch that
// holds an object's last evaluation and its deletion ends with the object
// forgotten), and the trail events of what they opened and resolved, one
// "opened" and one "resolved" event per object at most, source audit. Either
// all of it is recorded or nothing is, so a failed batch can be sent again
// as it was.
func Apply(ctx context.Context, st store.Store, req Request) (Response, error) {
	batch := store.AuditBatch{
		Cluster:   req.Cluster,
		Results:   make([]store.ObjectResult, len(req.Results)),
		Deletions: make([]store.ObjectDeletion, len(req.Deletions)),
	}
	for i, r := range req.Results {
		ref := r.Object
		ref.Cluster = req.Cluster
		batch.Results[i] = store.ObjectResult{Object: ref, EvaluatedAt: r.EvaluatedAt, PolicySetVersion: r.PolicySetVersion, Violations: r.Violations}
	}
	for i, d := range req.Deletions {
		batch.Deletions[i] = store.ObjectDeletion{UID: d.Object.UID, DeletedAt: d.DeletedAt}
	}
	var resp Response
	batch.Events = func(item int, changes store.FindingChanges) []store.Event {
		resp.Opened += len(changes.Opened)
		resp.Resolved += len(changes.Resolved)
		if item < len(req.Results) {
			r := batch.Results[item]
			evs := Events(req.Cluster, r.Object, r.EvaluatedAt, r.PolicySetVersion, changes, "")
			return append(evs, ExemptionEvents(req.Cluster, r.Object, r.EvaluatedAt, r.PolicySetVersion, req.Results[item].Exemptions)...)
		}
		d := req.Deletions[item-len(req.Results)]
		ref := d.Object
		ref.Cluster = req.Cluster
		return Events(req.Cluster, ref, d.DeletedAt, "", changes, "deleted")
	}
	out, err := st.RecordAudit(ctx, batch, trail.Hash)
	if err != nil {
		return Response{}, err
	}
	if out.Append.Stored+out.Append.Duplicates > 0 {
		resp.Events, resp.LastSeq = out.Append.Stored+out.Append.Duplicates, out.Append.LastSeq
	}
	return resp, nil
}

// eventDetails is what an audit event carries beyond its columns.
type eventDetails struct {
	Findings []string `json:"findings"`         // the IDs of the findings opened or resolved
	Reason   string   `json:"reason,omitempty"` // "deleted" when the object went away
}

// Events turns what one evaluation (or deletion, with reason "deleted") of an
// object changed into trail events: one "opened" event listing the violations
// it opened and one "resolved" event listing those it resolved, each naming
// the findings by ID.
func Events(cluster string, ref store.ObjectRef, at time.Time, policySetVersion string, changes store.FindingChanges, reason string) []store.Event {
	var out []store.Event
	for _, group := range []struct {
		decision string
		findings []store.Finding
	}{{DecisionOpened, changes.Opened}, {DecisionResolved, changes.Resolved}} {
		if len(group.findings) == 0 {
			continue
		}
		d := eventDetails{Reason: reason}
		violations := make([]store.Violation, len(group.findings))
		for i, f := range group.findings {
			violations[i] = f.Violation
			d.Findings = append(d.Findings, f.ID)
		}
		details, _ := json.Marshal(d) // strings only: cannot fail
		out = append(out, store.Event{
			ID:               trail.NewEventID(),
			Cluster:          cluster,
			Time:             trail.NormalizeTime(at),
			Source:           trail.SourceAudit,
			APIVersion:       ref.APIVersion,
			Kind:             ref.Kind,
			Namespace:        ref.Namespace,
			Name:             ref.Name,
			UID:              ref.UID,
			Decision:         group.decision,
			Violations:       violations,
			PolicySetVersion: policySetVersion,
			Details:          details,
		})
	}
	return out
}

// ExemptionEvents are the trail events of exemptions excusing an object's
// violations in an audit: one per exemption, source exemption, decision used,
// naming the exemption (policy, scope, owner, reason, expiry) and the
// violations it excused. An event's ID is derived from the object, the
// evaluation's time and the exemption, so a batch sent again (its answer
// lost) is stored once.
func ExemptionEvents(cluster string, ref store.ObjectRef, at time.Time, policySetVersion string, uses []ExemptionUse) []store.Event {
	out := make([]store.Event, 0, len(uses))
	for _, u := range uses {
		ex := u.Exemption
		details := map[string]any{
			"mode":    "audit",
			"policy":  ex.Policy,
			"owner":   ex.Owner,
			"reason":  ex.Reason,
			"expires": ex.Expires.Format(time.DateOnly),
		}
		scope := map[string]string{}
		for k, v := range map[string]string{"namespace": ex.Namespace, "kind": ex.Kind, "name": ex.Name} {
			if v != "" {
				scope[k] = v
			}
		}
		if len(scope) > 0 {
			details["scope"] = scope
		}
		b, _ := json.Marshal(details) // strings only: cannot fail
		key := strings.Join([]string{cluster, ref.UID, at.UTC().Format(time.RFC3339Nano), ex.Policy, ex.Namespace, ex.Kind, ex.Name, ex.Owner, ex.Reason, ex.Expires.Format(time.DateOnly)}, "\x00")
		out = append(out, store.Event{
			ID:               uuid.NewSHA1(uuid.NameSpaceURL, []byte("bailiff.io/audit-exemption\x00"+key)).String(),
			Cluster:          cluster,
			Time:             trail.NormalizeTime(at),
			Source:           trail.SourceExemption,
			APIVersion:       ref.APIVersion,
			Kind:             ref.Kind,
			Namespace:        ref.Namespace,
			Name:             ref.Name,
			UID:              ref.UID,
			Decision:         DecisionUsed,
			Violations:       slices.Clone(u.Violations),
			PolicySetVersion: policySetVersion,
			Details:          b,
		})
	}
	return out
}
