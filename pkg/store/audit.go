package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// recordAudit records a batch in one transaction. The objects' rows are
// locked and their open findings read with one query each for the whole
// batch; the items are then planned in order against that state in memory
// (so an object named twice in a batch is handled as two calls would handle
// it), and what changed is written back with one statement per changed row.
func (s *sqlStore) recordAudit(ctx context.Context, b AuditBatch, hash HashFunc) (AuditOutcome, error) {
	if err := checkAuditBatch(b, hash); err != nil {
		return AuditOutcome{}, err
	}
	var out AuditOutcome
	err := s.db.write(ctx, func(q querier) error {
		state, err := s.loadAuditState(ctx, q, b)
		if err != nil {
			return err
		}
		out.Changes = state.plan(b)
		if err := s.writeAuditState(ctx, q, b.Cluster, state); err != nil {
			return err
		}
		if b.Events == nil {
			return nil
		}
		var events []Event
		for i, c := range out.Changes {
			events = append(events, b.Events(i, c)...)
		}
		if len(events) == 0 {
			return nil
		}
		evs, err := prepareEvents(b.Cluster, events)
		if err != nil {
			return err
		}
		out.Append, err = s.appendInTx(ctx, q, b.Cluster, evs, hash)
		return err
	})
	if err != nil {
		return AuditOutcome{}, err
	}
	return out, nil
}

// checkAuditBatch refuses a batch that names no cluster, an object without
// a UID or of another cluster, or a violation without a policy.
func checkAuditBatch(b AuditBatch, hash HashFunc) error {
	if b.Cluster == "" {
		return errors.New("the batch names no cluster")
	}
	if b.Events != nil && hash == nil {
		return errors.New("no hash function for the batch's events")
	}
	for i, r := range b.Results {
		if r.Object.UID == "" {
			return fmt.Errorf("result %d: the object has no UID", i)
		}
		if r.Object.Cluster != b.Cluster {
			return fmt.Errorf("result %d: the object is in cluster %q, not %q", i, r.Object.Cluster, b.Cluster)
		}
		for j, v := range r.Violations {
			if v.PolicyID == "" {
				return fmt.Errorf("result %d: violation %d has no policy ID", i, j)
			}
		}
	}
	for i, d := range b.Deletions {
		if d.UID == "" {
			return fmt.Errorf("deletion %d: the object has no UID", i)
		}
	}
	return nil
}

// auditState is what the store holds of a batch's objects, changed in
// memory while the batch is planned and written back at the end.
type auditState struct {
	objects  map[string]*auditObject
	findings map[string]*auditFinding // by finding ID
}

type auditObject struct {
	known bool // a row exists (or a result in this batch creates one)
	objectState
	open []string // IDs of open findings, oldest first

	// What the batch sets, if it changes the row.
	changed          bool
	ref              ObjectRef
	policySetVersion string
	violations       int
}

type auditFinding struct {
	Finding
	new, changed bool
}

// loadAuditState records the batch's new objects, locks every object's row
// (in UID order, so that concurrent batches cannot deadlock) and reads their
// open findings.
func (s *sqlStore) loadAuditState(ctx context.Context, q querier, b AuditBatch) (*auditState, error) {
	st := &auditState{objects: map[string]*auditObject{}, findings: map[string]*auditFinding{}}
	var uids []string
	first := map[string]ObjectResult{}
	for _, r := range b.Results {
		if _, ok := first[r.Object.UID]; !ok {
			first[r.Object.UID] = r
		}
	}
	for _, r := range b.Results {
		uids = append(uids, r.Object.UID)
	}
	for _, d := range b.Deletions {
		uids = append(uids, d.UID)
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)
	for _, uid := range uids {
		st.objects[uid] = &auditObject{}
		r, ok := first[uid]
		if !ok {
			continue // only deleted: a row is not made for an object never evaluated
		}
		o := r.Object
		_, err := q.exec(ctx, `INSERT INTO objects (cluster, uid, api_version, kind, namespace, name, evaluated_at, policy_set_version, violations)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (cluster, uid) DO NOTHING`,
			o.Cluster, o.UID, o.APIVersion, o.Kind, o.Namespace, o.Name, s.d.timeArg(normTime(r.EvaluatedAt)), r.PolicySetVersion)
		if err != nil {
			return nil, fmt.Errorf("lock object %s: %w", uid, err)
		}
	}
	cond, arg := s.d.inList("uid", uids)
	rs, err := q.query(ctx, "SELECT uid, evaluated_at, deleted_at FROM objects WHERE cluster = ? AND "+cond+" ORDER BY uid"+s.d.forUpdate, b.Cluster, arg)
	if err != nil {
		return nil, fmt.Errorf("lock objects: %w", err)
	}
	for rs.Next() {
		var uid string
		var os objectState
		if err := rs.Scan(&uid, s.d.timeDest(&os.evaluatedAt), s.d.nullTimeDest(&os.deletedAt)); err != nil {
			rs.Close()
			return nil, fmt.Errorf("lock objects: %w", err)
		}
		if o := st.objects[uid]; o != nil {
			o.known, o.objectState = true, os
		}
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("lock objects: %w", err)
	}
	rs, err = q.query(ctx, findingSelect+" WHERE f.cluster = ? AND f.resolved_at IS NULL AND "+cond+" ORDER BY f.first_seen, f.id", b.Cluster, arg)
	if err != nil {
		return nil, fmt.Errorf("read open findings: %w", err)
	}
	open, err := s.scanFindings(rs)
	if err != nil {
		return nil, fmt.Errorf("read open findings: %w", err)
	}
	for _, f := range open {
		if o := st.objects[f.UID]; o != nil {
			o.open = append(o.open, f.ID)
			st.findings[f.ID] = &auditFinding{Finding: f}
		}
	}
	return st, nil
}

// plan applies the batch's results, then its deletions, to the state, and
// returns what each item changed.
func (st *auditState) plan(b AuditBatch) []FindingChanges {
	changes := make([]FindingChanges, 0, len(b.Results)+len(b.Deletions))
	for _, r := range b.Results {
		changes = append(changes, st.applyResult(r))
	}
	for _, d := range b.Deletions {
		changes = append(changes, st.applyDeletion(d))
	}
	return changes
}

func (st *auditState) applyResult(r ObjectResult) FindingChanges {
	o := st.objects[r.Object.UID]
	at := normTime(r.EvaluatedAt)
	if o.supersedes(at) {
		return FindingChanges{}
	}
	violations := distinctViolations(r.Violations)
	plan := planSync(st.openOf(o), r.Object, violations, at, newFindingID)
	st.applyPlan(o, plan)
	o.known, o.changed = true, true
	o.evaluatedAt, o.deletedAt = at, nil
	o.ref, o.policySetVersion, o.violations = r.Object, r.PolicySetVersion, len(violations)
	return FindingChanges{Opened: plan.opened, Resolved: plan.resolved}
}

func (st *auditState) applyDeletion(d ObjectDeletion) FindingChanges {
	o := st.objects[d.UID]
	if !o.known {
		return FindingChanges{} // never evaluated, so no findings
	}
	at := normTime(d.DeletedAt)
	plan := planSync(st.openOf(o), ObjectRef{}, nil, at, nil)
	st.applyPlan(o, plan)
	o.deletedAt = &at
	if !o.changed {
		o.changed = true
		o.ref = ObjectRef{} // only deleted_at changes
	}
	return FindingChanges{Resolved: plan.resolved}
}

// openOf lists an object's open findings.
func (st *auditState) openOf(o *auditObject) []Finding {
	out := make([]Finding, len(o.open))
	for i, id := range o.open {
		out[i] = st.findings[id].Finding
	}
	return out
}

// applyPlan records a plan's changes in the state.
func (st *auditState) applyPlan(o *auditObject, plan syncPlan) {
	for _, f := range plan.opened {
		st.findings[f.ID] = &auditFinding{Finding: f, new: true}
		o.open = append(o.open, f.ID)
	}
	for _, f := range plan.refreshed {
		af := st.findings[f.ID]
		af.Finding, af.changed = f, true
	}
	for _, f := range plan.resolved {
		af := st.findings[f.ID]
		af.Finding, af.changed = f, true
		o.open = slices.DeleteFunc(o.open, func(id string) bool { return id == f.ID })
	}
}

// writeAuditState writes back what the batch changed.
func (s *sqlStore) writeAuditState(ctx context.Context, q querier, cluster string, st *auditState) error {
	var inserts [][]any
	ids := make([]string, 0, len(st.findings))
	for id := range st.findings {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		f := st.findings[id]
		switch {
		case f.new:
			inserts = append(inserts, []any{
				f.ID, f.Cluster, f.UID, f.APIVersion, f.Kind, f.Namespace, f.Name,
				f.PolicyID, f.Severity, f.Enforcement, f.Message, f.Field,
				s.d.timeArg(f.FirstSeen), s.d.timeArg(f.LastSeen), s.d.nullTimeArg(f.ResolvedAt), findingKeyHash(f.Violation),
			})
		case f.changed:
			_, err := q.exec(ctx, "UPDATE findings SET last_seen = ?, severity = ?, enforcement = ?, resolved_at = ? WHERE id = ?",
				s.d.timeArg(f.LastSeen), f.Severity, f.Enforcement, s.d.nullTimeArg(f.ResolvedAt), f.ID)
			if err != nil {
				return fmt.Errorf("update finding %s: %w", f.ID, err)
			}
		}
	}
	if len(inserts) > 0 {
		if err := q.insertMany(ctx, "findings", append(findingColumns[:len(findingColumns):len(findingColumns)], "key_hash"), inserts); err != nil {
			return fmt.Errorf("open findings: %w", err)
		}
	}
	uids := make([]string, 0, len(st.objects))
	for uid := range st.objects {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	for _, uid := range uids {
		o := st.objects[uid]
		if !o.changed {
			continue
		}
		var err error
		if o.ref.UID == "" { // deleted, never evaluated in this batch
			_, err = q.exec(ctx, "UPDATE objects SET deleted_at = ? WHERE cluster = ? AND uid = ?",
				s.d.nullTimeArg(o.deletedAt), cluster, uid)
		} else {
			_, err = q.exec(ctx, `UPDATE objects SET api_version = ?, kind = ?, namespace = ?, name = ?,
				evaluated_at = ?, policy_set_version = ?, violations = ?, deleted_at = ?
				WHERE cluster = ? AND uid = ?`,
				o.ref.APIVersion, o.ref.Kind, o.ref.Namespace, o.ref.Name,
				s.d.timeArg(o.evaluatedAt), o.policySetVersion, o.violations, s.d.nullTimeArg(o.deletedAt),
				cluster, uid)
		}
		if err != nil {
			return fmt.Errorf("record evaluation of object %s: %w", uid, err)
		}
	}
	return nil
}
