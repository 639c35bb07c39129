package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// findingColumns are the findings table's columns in the order scanFindings
// reads them; inserts add key_hash (see findingKeyHash).
var findingColumns = []string{
	"id", "cluster", "uid", "api_version", "kind", "namespace", "name",
	"policy_id", "severity", "enforcement", "message", "field",
	"first_seen", "last_seen", "resolved_at",
}

var findingSelect = "SELECT f." + strings.Join(findingColumns, ", f.") + " FROM findings f"

// A finding is one (cluster, object UID, policy ID, field, message): a
// policy that reports several problems with one object (two containers
// without limits) has one finding for each. Field and message are part of the
// key, so a violation whose message changes (a count in it grows) resolves
// the old finding and opens a new one. Severity and enforcement are not:
// re-rating a policy updates its open findings.
func findingKey(v Violation) string {
	return v.PolicyID + "\x00" + v.Field + "\x00" + v.Message
}

// findingKeyHash is the key as a fixed-size column, because messages can be
// longer than a PostgreSQL index entry may be. At most one open finding of an
// object has a given key hash (a unique partial index).
func findingKeyHash(v Violation) string {
	sum := sha256.Sum256([]byte(findingKey(v)))
	return hex.EncodeToString(sum[:])
}

// newFindingID names a new finding; the ID stays with it until it is
// resolved. A finding that comes back after it was resolved is a new finding
// with a new ID, so the history of each occurrence is kept.
func newFindingID() string {
	return strings.ToLower(rand.Text())
}

// SyncFindings records the result of evaluating one object.
//
// A result older than the object's last recorded evaluation, or not later
// than its ForgetObject, is ignored and changes nothing: evaluations that
// arrive out of order must not reopen what a newer one resolved.
func (s *sqlStore) SyncFindings(ctx context.Context, res ObjectResult) (FindingChanges, error) {
	out, err := s.recordAudit(ctx, AuditBatch{Cluster: res.Object.Cluster, Results: []ObjectResult{res}}, nil)
	if err != nil {
		return FindingChanges{}, fmt.Errorf("sync findings of object %s in cluster %s: %w", res.Object.UID, res.Object.Cluster, err)
	}
	return out.Changes[0], nil
}

// RecordAudit records a batch of results and deletions in one transaction.
func (s *sqlStore) RecordAudit(ctx context.Context, b AuditBatch, hash HashFunc) (AuditOutcome, error) {
	out, err := s.recordAudit(ctx, b, hash)
	if err != nil {
		return AuditOutcome{}, fmt.Errorf("record audit batch of %d results and %d deletions in cluster %s: %w", len(b.Results), len(b.Deletions), b.Cluster, err)
	}
	return out, nil
}

// objectState is what the store knows of an object's evaluations.
type objectState struct {
	evaluatedAt time.Time
	deletedAt   *time.Time
}

// supersedes says whether what is recorded is newer than an evaluation at at.
func (o objectState) supersedes(at time.Time) bool {
	return at.Before(o.evaluatedAt) || (o.deletedAt != nil && !at.After(*o.deletedAt))
}

// distinctViolations drops repeats of a finding key, keeping the first.
func distinctViolations(vs []Violation) []Violation {
	var out []Violation
	seen := map[string]bool{}
	for _, v := range vs {
		if k := findingKey(v); !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// syncPlan is what one evaluation changes in an object's findings.
type syncPlan struct {
	opened    []Finding // violations with no open finding
	refreshed []Finding // open findings reported again, LastSeen moved
	resolved  []Finding // open findings no longer reported, ResolvedAt set
}

// planSync compares an object's open findings with the violations an
// evaluation at at reported.
func planSync(open []Finding, obj ObjectRef, violations []Violation, at time.Time, newID func() string) syncPlan {
	var plan syncPlan
	current := map[string]Finding{}
	for _, f := range open {
		if _, dup := current[findingKey(f.Violation)]; !dup {
			current[findingKey(f.Violation)] = f
		}
	}
	reported := map[string]bool{}
	for _, v := range violations {
		k := findingKey(v)
		reported[k] = true
		if f, ok := current[k]; ok {
			f.LastSeen = at
			f.Severity, f.Enforcement = v.Severity, v.Enforcement
			plan.refreshed = append(plan.refreshed, f)
			continue
		}
		plan.opened = append(plan.opened, Finding{ID: newID(), ObjectRef: obj, Violation: v, FirstSeen: at, LastSeen: at})
	}
	for _, f := range open {
		if !reported[findingKey(f.Violation)] {
			resolvedAt := at
			f.ResolvedAt = &resolvedAt
			plan.resolved = append(plan.resolved, f)
		}
	}
	return plan
}

// ForgetObject resolves all open findings of an object that no longer
// exists and records when it went, so late evaluations of it are ignored.
// An object with no open findings is no error: nothing changes.
func (s *sqlStore) ForgetObject(ctx context.Context, cluster, uid string, at time.Time) (FindingChanges, error) {
	out, err := s.recordAudit(ctx, AuditBatch{Cluster: cluster, Deletions: []ObjectDeletion{{UID: uid, DeletedAt: at}}}, nil)
	if err != nil {
		return FindingChanges{}, fmt.Errorf("forget object %s in cluster %s: %w", uid, cluster, err)
	}
	return out.Changes[0], nil
}

// findingCursor is the key of a page's last finding.
type findingCursor struct {
	FirstSeen int64  `json:"f"` // microseconds since the Unix epoch
	ID        string `json:"i"`
}

// Finding states in FindingQuery.State.
const (
	stateOpen     = "open"
	stateResolved = "resolved"
)

// Findings returns a page of findings, oldest (by FirstSeen) first.
func (s *sqlStore) Findings(ctx context.Context, q FindingQuery) (FindingPage, error) {
	page, err := s.findings(ctx, q)
	if err != nil {
		return FindingPage{}, fmt.Errorf("query findings: %w", err)
	}
	return page, nil
}

func (s *sqlStore) findings(ctx context.Context, q FindingQuery) (FindingPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return FindingPage{}, err
	}
	var w where
	for _, f := range []struct{ column, value string }{
		{"cluster", q.Cluster}, {"namespace", q.Namespace}, {"kind", q.Kind},
		{"policy_id", q.PolicyID}, {"severity", q.Severity}, {"uid", q.UID},
	} {
		if f.value != "" {
			w.add("f."+f.column+" = ?", f.value)
		}
	}
	switch q.State {
	case "":
	case stateOpen:
		w.add("f.resolved_at IS NULL")
	case stateResolved:
		w.add("f.resolved_at IS NOT NULL")
	default:
		return FindingPage{}, fmt.Errorf("unknown finding state %q: use %q, %q or none", q.State, stateOpen, stateResolved)
	}
	if !q.Time.From.IsZero() {
		w.add("(f.resolved_at IS NULL OR f.resolved_at >= ?)", s.d.timeArg(normTime(q.Time.From)))
	}
	if !q.Time.To.IsZero() {
		w.add("f.first_seen < ?", s.d.timeArg(normTime(q.Time.To)))
	}
	if q.Cursor != "" {
		var c findingCursor
		if err := decodeCursor(q.Cursor, &c); err != nil {
			return FindingPage{}, err
		}
		w.add("(f.first_seen, f.id) > (?, ?)", s.d.timeArg(time.UnixMicro(c.FirstSeen).UTC()), c.ID)
	}
	var fs []Finding
	err = s.db.read(ctx, func(db querier) error {
		rs, err := db.query(ctx, findingSelect+w.sql()+" ORDER BY f.first_seen, f.id LIMIT ?", append(w.args, limit+1)...)
		if err != nil {
			return err
		}
		fs, err = s.scanFindings(rs)
		return err
	})
	if err != nil {
		return FindingPage{}, err
	}
	page := FindingPage{Findings: fs}
	if len(fs) > limit {
		page.Findings = fs[:limit]
		last := page.Findings[limit-1]
		page.Next = encodeCursor(findingCursor{FirstSeen: last.FirstSeen.UnixMicro(), ID: last.ID})
	}
	return page, nil
}

// scanFindings reads and closes rows of findingColumns.
func (s *sqlStore) scanFindings(rs rows) ([]Finding, error) {
	defer rs.Close()
	fs := []Finding{}
	for rs.Next() {
		var f Finding
		err := rs.Scan(&f.ID, &f.Cluster, &f.UID, &f.APIVersion, &f.Kind, &f.Namespace, &f.Name,
			&f.PolicyID, &f.Severity, &f.Enforcement, &f.Message, &f.Field,
			s.d.timeDest(&f.FirstSeen), s.d.timeDest(&f.LastSeen), s.d.nullTimeDest(&f.ResolvedAt))
		if err != nil {
			return nil, err
		}
		f.FirstSeen, f.LastSeen = f.FirstSeen.UTC(), f.LastSeen.UTC()
		if f.ResolvedAt != nil {
			t := f.ResolvedAt.UTC()
			f.ResolvedAt = &t
		}
		fs = append(fs, f)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return fs, nil
}

// OpenFindingsByPolicy counts a cluster's open findings and the objects they
// are on, per policy, most findings first.
func (s *sqlStore) OpenFindingsByPolicy(ctx context.Context, cluster string) ([]PolicyFindings, error) {
	var out []PolicyFindings
	err := s.db.read(ctx, func(q querier) error {
		return eachRow(ctx, q, `SELECT policy_id, MAX(severity), COUNT(*), COUNT(DISTINCT uid) FROM findings
			WHERE cluster = ? AND resolved_at IS NULL GROUP BY policy_id ORDER BY COUNT(*) DESC, policy_id`, func(rs rows) error {
			var p PolicyFindings
			if err := rs.Scan(&p.PolicyID, &p.Severity, &p.Findings, &p.Objects); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		}, cluster)
	})
	if err != nil {
		return nil, fmt.Errorf("count open findings of cluster %s: %w", cluster, err)
	}
	return out, nil
}
