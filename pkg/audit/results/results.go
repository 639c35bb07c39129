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
	"sync"
	"time"

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
)

// Request is a batch of one cluster's audit results and deletions.
type Request struct {
	Cluster   string         `json:"cluster"`
	Results   []ObjectResult `json:"results,omitempty"`
	Deletions []Deletion     `json:"deletions,omitempty"`
}

// ObjectResult is the outcome of evaluating one object: its violations, none
// when it passes. It is store.ObjectResult as it travels.
type ObjectResult struct {
	Object           store.ObjectRef   `json:"object"`
	EvaluatedAt      time.Time         `json:"evaluatedAt"`
	PolicySetVersion string            `json:"policySetVersion,omitempty"`
	Violations       []store.Violation `json:"violations"`
}

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

// Apply records a validated batch in st: each result with SyncFindings (a
// few at a time), then each deletion with ForgetObject (results first, so a
// batch that holds an object's last evaluation and its deletion ends with
// the object forgotten; deletions only if every result was recorded).
// What that opened and resolved is appended to the cluster's trail, one
// "opened" and one "resolved" event per object at most, source audit.
//
// The store cannot sync findings and append events in one transaction, so
// Apply appends the events of whatever it recorded even when a later item
// fails: a retried batch finds those changes already made and would not
// report them again.
func Apply(ctx context.Context, st store.Store, req Request) (Response, error) {
	var resp Response
	var events []store.Event
	synced := syncAll(ctx, st, req)
	var failed error
	for i, s := range synced {
		if s.err != nil {
			failed = errors.Join(failed, s.err)
			continue
		}
		r := req.Results[i]
		ref := r.Object
		ref.Cluster = req.Cluster
		resp.Opened += len(s.changes.Opened)
		resp.Resolved += len(s.changes.Resolved)
		events = append(events, Events(req.Cluster, ref, r.EvaluatedAt, r.PolicySetVersion, s.changes, "")...)
	}
	if failed == nil {
		for _, d := range req.Deletions {
			ref := d.Object
			ref.Cluster = req.Cluster
			changes, err := st.ForgetObject(ctx, req.Cluster, ref.UID, d.DeletedAt)
			if err != nil {
				failed = err
				break
			}
			resp.Resolved += len(changes.Resolved)
			events = append(events, Events(req.Cluster, ref, d.DeletedAt, "", changes, "deleted")...)
		}
	}
	if len(events) > 0 {
		res, err := appendEvents(ctx, st, req.Cluster, events)
		if err != nil {
			return resp, errors.Join(failed, fmt.Errorf("append %d audit events to the trail of cluster %s: %w", len(events), req.Cluster, err))
		}
		resp.Events, resp.LastSeq = res.Stored+res.Duplicates, res.LastSeq
	}
	return resp, failed
}

// syncConcurrency is how many objects Apply syncs at once: the store
// serialises what must be (each object's row is locked; SQLite has one
// writer), and PostgreSQL gains from the rest.
const syncConcurrency = 4

type syncOutcome struct {
	changes store.FindingChanges
	err     error
}

// syncAll syncs each result's findings, in parallel, and returns the
// outcomes in the order of the results.
func syncAll(ctx context.Context, st store.Store, req Request) []syncOutcome {
	out := make([]syncOutcome, len(req.Results))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(syncConcurrency, len(req.Results)) {
		wg.Go(func() {
			for i := range next {
				r := req.Results[i]
				ref := r.Object
				ref.Cluster = req.Cluster
				out[i].changes, out[i].err = st.SyncFindings(ctx, store.ObjectResult{
					Object: ref, EvaluatedAt: r.EvaluatedAt, PolicySetVersion: r.PolicySetVersion, Violations: r.Violations,
				})
			}
		})
	}
	for i := range req.Results {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// appendEvents appends, trying again a few times: the findings are already
// changed, and the events are the only record of it in the trail. The IDs
// stay the same, so a retry of an append that did land stores nothing twice.
func appendEvents(ctx context.Context, st store.Store, cluster string, events []store.Event) (store.AppendResult, error) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		res, err := st.AppendEvents(ctx, cluster, events, trail.Hash)
		if err == nil || attempt == 4 || ctx.Err() != nil {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(wait):
		}
		wait *= 4
	}
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
