package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// eventColumns are the events table's columns in the order eventValues
// writes them and scanEvents reads them.
var eventColumns = []string{
	"cluster", "seq", "id", "event_time", "source", "user_name", "user_groups",
	"operation", "api_version", "kind", "namespace", "name", "uid", "decision",
	"dry_run", "violations", "patch", "policy_set_version", "details",
	"prev_hash", "hash",
}

// eventSelect selects eventColumns of the events table aliased e.
var eventSelect = "SELECT e." + strings.Join(eventColumns, ", e.") + " FROM events e"

// AppendEvents stores a batch of one cluster's events at the end of its chain.
func (s *sqlStore) AppendEvents(ctx context.Context, cluster string, events []Event, hash HashFunc) (AppendResult, error) {
	res, err := s.appendEvents(ctx, cluster, events, hash)
	if err != nil {
		return AppendResult{}, fmt.Errorf("append events for cluster %s: %w", cluster, err)
	}
	return res, nil
}

func (s *sqlStore) appendEvents(ctx context.Context, cluster string, events []Event, hash HashFunc) (AppendResult, error) {
	if hash == nil {
		return AppendResult{}, errors.New("no hash function")
	}
	evs, err := prepareEvents(cluster, events)
	if err != nil {
		return AppendResult{}, err
	}
	if len(evs) == 0 {
		var head chainHead
		err := s.db.read(ctx, func(q querier) error {
			return queryOne(ctx, q, []any{&head.seq}, "SELECT seq FROM chain_heads WHERE cluster = ?", cluster)
		})
		if err != nil && !errors.Is(err, errNoRows) {
			return AppendResult{}, err
		}
		return AppendResult{LastSeq: head.seq}, nil
	}
	var res AppendResult
	err = s.db.write(ctx, func(q querier) error {
		res, err = s.appendInTx(ctx, q, cluster, evs, hash)
		return err
	})
	if err != nil {
		return AppendResult{}, err
	}
	return res, nil
}

// appendInTx appends prepared events to a cluster's chain inside a write
// transaction.
func (s *sqlStore) appendInTx(ctx context.Context, q querier, cluster string, evs []Event, hash HashFunc) (AppendResult, error) {
	head, err := s.lockChainHead(ctx, q, cluster)
	if err != nil {
		return AppendResult{}, err
	}
	stored, err := s.storedEventIDs(ctx, q, cluster, evs)
	if err != nil {
		return AppendResult{}, err
	}
	added, newHead, dups, err := chainEvents(head, evs, stored, hash)
	if err != nil {
		return AppendResult{}, err
	}
	if len(added) > 0 {
		if err := s.insertEvents(ctx, q, added); err != nil {
			return AppendResult{}, err
		}
		if _, err := q.exec(ctx, "UPDATE chain_heads SET seq = ?, hash = ? WHERE cluster = ?", newHead.seq, newHead.hash, cluster); err != nil {
			return AppendResult{}, fmt.Errorf("move chain head: %w", err)
		}
	}
	return AppendResult{Stored: len(added), Duplicates: dups, LastSeq: newHead.seq}, nil
}

// chainHead is the position and hash of a chain's last event; zero for an empty chain.
type chainHead struct {
	seq  int64
	hash string
}

// lockChainHead reads a cluster's chain head and holds it until the
// transaction ends, creating the row for a cluster's first event. Appends of
// one cluster, from any process, queue here.
func (s *sqlStore) lockChainHead(ctx context.Context, q querier, cluster string) (chainHead, error) {
	if _, err := q.exec(ctx, "INSERT INTO chain_heads (cluster, seq, hash) VALUES (?, 0, '') ON CONFLICT (cluster) DO NOTHING", cluster); err != nil {
		return chainHead{}, fmt.Errorf("lock chain head: %w", err)
	}
	var h chainHead
	if err := queryOne(ctx, q, []any{&h.seq, &h.hash}, "SELECT seq, hash FROM chain_heads WHERE cluster = ?"+s.d.forUpdate, cluster); err != nil {
		return chainHead{}, fmt.Errorf("lock chain head: %w", err)
	}
	return h, nil
}

// storedEventIDs returns which of the events' IDs the cluster has stored.
func (s *sqlStore) storedEventIDs(ctx context.Context, q querier, cluster string, evs []Event) (map[string]bool, error) {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	cond, arg := s.d.inList("id", ids)
	rs, err := q.query(ctx, "SELECT id FROM events WHERE cluster = ? AND "+cond, cluster, arg)
	if err != nil {
		return nil, fmt.Errorf("look up stored event IDs: %w", err)
	}
	defer rs.Close()
	stored := map[string]bool{}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			return nil, fmt.Errorf("look up stored event IDs: %w", err)
		}
		stored[id] = true
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("look up stored event IDs: %w", err)
	}
	return stored, nil
}

// insertEvents writes chained events and the index of the policies they name.
func (s *sqlStore) insertEvents(ctx context.Context, q querier, evs []Event) error {
	rows := make([][]any, len(evs))
	var policies [][]any
	for i, e := range evs {
		v, err := s.eventValues(e)
		if err != nil {
			return err
		}
		rows[i] = v
		for _, id := range policyIDs(e.Violations) {
			policies = append(policies, []any{e.Cluster, e.Seq, id})
		}
	}
	if err := q.insertMany(ctx, "events", eventColumns, rows); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	if len(policies) > 0 {
		if err := q.insertMany(ctx, "event_policies", []string{"cluster", "seq", "policy_id"}, policies); err != nil {
			return fmt.Errorf("insert event policies: %w", err)
		}
	}
	return nil
}

// eventValues are an event's values for eventColumns. Groups and Violations
// are JSON, NULL when there are none; Patch and Details are kept byte for byte.
func (s *sqlStore) eventValues(e Event) ([]any, error) {
	groups, err := jsonList(e.Groups)
	if err != nil {
		return nil, fmt.Errorf("encode groups of event %s: %w", e.ID, err)
	}
	violations, err := jsonList(e.Violations)
	if err != nil {
		return nil, fmt.Errorf("encode violations of event %s: %w", e.ID, err)
	}
	return []any{
		e.Cluster, e.Seq, e.ID, s.d.timeArg(e.Time), e.Source, e.User, groups,
		e.Operation, e.APIVersion, e.Kind, e.Namespace, e.Name, e.UID, e.Decision,
		e.DryRun, violations, nullBytes(e.Patch), e.PolicySetVersion, nullBytes(e.Details),
		e.PrevHash, e.Hash,
	}, nil
}

// jsonList is a list as a JSON text argument, NULL when empty.
func jsonList[T any](list []T) (any, error) {
	if len(list) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// policyIDs are the distinct non-empty policy IDs among violations.
func policyIDs(vs []Violation) []string {
	var ids []string
	for _, v := range vs {
		if v.PolicyID != "" && !slices.Contains(ids, v.PolicyID) {
			ids = append(ids, v.PolicyID)
		}
	}
	return ids
}

// prepareEvents checks a batch and copies it into the form the store keeps:
// times in UTC truncated to microseconds; empty Groups, Violations, Patch and
// Details as nil; Seq, PrevHash and Hash cleared for the store to set. The
// caller's events are left untouched.
func prepareEvents(cluster string, events []Event) ([]Event, error) {
	if cluster == "" {
		return nil, errors.New("no cluster named")
	}
	out := make([]Event, len(events))
	for i, e := range events {
		if e.ID == "" {
			return nil, fmt.Errorf("event %d of the batch has no ID", i)
		}
		if e.Cluster != cluster {
			return nil, fmt.Errorf("event %s belongs to cluster %q, not %q", e.ID, e.Cluster, cluster)
		}
		e.Time = normTime(e.Time)
		e.Groups = emptyAsNil(e.Groups)
		e.Violations = emptyAsNil(e.Violations)
		e.Patch = json.RawMessage(emptyAsNil([]byte(e.Patch)))
		e.Details = json.RawMessage(emptyAsNil([]byte(e.Details)))
		e.Seq, e.PrevHash, e.Hash = 0, "", ""
		out[i] = e
	}
	return out, nil
}

// emptyAsNil is a copy of s, or nil if s is empty.
func emptyAsNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// chainEvents decides what a batch adds to a chain whose head is head: it
// skips events whose ID is stored or came earlier in the batch, numbers the
// rest from the head, links each to the one before and hashes it.
func chainEvents(head chainHead, evs []Event, stored map[string]bool, hash HashFunc) (added []Event, newHead chainHead, duplicates int, err error) {
	seen := make(map[string]bool, len(evs))
	for _, e := range evs {
		if stored[e.ID] || seen[e.ID] {
			duplicates++
			continue
		}
		seen[e.ID] = true
		e.Seq, e.PrevHash, e.Hash = head.seq+1, head.hash, ""
		h, err := hash(e)
		if err != nil {
			return nil, chainHead{}, 0, fmt.Errorf("hash event %s: %w", e.ID, err)
		}
		if h == "" {
			return nil, chainHead{}, 0, fmt.Errorf("hash event %s: the hash function returned an empty hash", e.ID)
		}
		e.Hash = h
		head = chainHead{seq: e.Seq, hash: h}
		added = append(added, e)
	}
	return added, head, duplicates, nil
}

// eventCursor is the key of a page's last event: its Seq in chain order
// (a query naming a cluster), its time, cluster and Seq in time order.
type eventCursor struct {
	Order   string `json:"o"`
	Seq     int64  `json:"s"`
	Cluster string `json:"c"`
	Time    int64  `json:"t,omitempty"` // microseconds since the Unix epoch
}

const (
	chainOrder = "seq"
	timeOrder  = "time"
)

// Events returns a page of events: in chain order when q names a cluster,
// otherwise by time, then cluster and Seq.
func (s *sqlStore) Events(ctx context.Context, q EventQuery) (EventPage, error) {
	page, err := s.events(ctx, q)
	if err != nil {
		return EventPage{}, fmt.Errorf("query events: %w", err)
	}
	return page, nil
}

func (s *sqlStore) events(ctx context.Context, q EventQuery) (EventPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return EventPage{}, err
	}
	order := timeOrder
	if q.Cluster != "" {
		order = chainOrder
	}
	var w where
	if q.Cluster != "" {
		w.add("e.cluster = ?", q.Cluster)
	}
	if q.FromSeq != 0 || q.ToSeq != 0 {
		if q.Cluster == "" {
			return EventPage{}, errors.New("FromSeq and ToSeq need a Cluster")
		}
		if q.FromSeq != 0 {
			w.add("e.seq >= ?", q.FromSeq)
		}
		if q.ToSeq != 0 {
			w.add("e.seq <= ?", q.ToSeq)
		}
	}
	for _, f := range []struct{ column, value string }{
		{"namespace", q.Namespace}, {"kind", q.Kind}, {"user_name", q.User},
		{"source", q.Source}, {"decision", q.Decision}, {"uid", q.UID},
	} {
		if f.value != "" {
			w.add("e."+f.column+" = ?", f.value)
		}
	}
	if q.PolicyID != "" {
		w.add("EXISTS (SELECT 1 FROM event_policies p WHERE p.cluster = e.cluster AND p.seq = e.seq AND p.policy_id = ?)", q.PolicyID)
	}
	if !q.Time.From.IsZero() {
		w.add("e.event_time >= ?", s.d.timeArg(normTime(q.Time.From)))
	}
	if !q.Time.To.IsZero() {
		w.add("e.event_time < ?", s.d.timeArg(normTime(q.Time.To)))
	}
	if q.Cursor != "" {
		var c eventCursor
		if err := decodeCursor(q.Cursor, &c); err != nil {
			return EventPage{}, err
		}
		switch {
		case c.Order == chainOrder && order == chainOrder && c.Cluster == q.Cluster:
			w.add("e.seq > ?", c.Seq)
		case c.Order == timeOrder && order == timeOrder:
			w.add("(e.event_time, e.cluster, e.seq) > (?, ?, ?)", s.d.timeArg(time.UnixMicro(c.Time).UTC()), c.Cluster, c.Seq)
		default:
			return EventPage{}, fmt.Errorf("cursor %q belongs to another query", q.Cursor)
		}
	}
	orderBy := " ORDER BY e.event_time, e.cluster, e.seq"
	if order == chainOrder {
		orderBy = " ORDER BY e.seq"
	}
	var evs []Event
	err = s.db.read(ctx, func(db querier) error {
		rs, err := db.query(ctx, eventSelect+w.sql()+orderBy+" LIMIT ?", append(w.args, limit+1)...)
		if err != nil {
			return err
		}
		evs, err = s.scanEvents(rs)
		return err
	})
	if err != nil {
		return EventPage{}, err
	}
	page := EventPage{Events: evs}
	if len(evs) > limit {
		page.Events = evs[:limit]
		last := page.Events[limit-1]
		c := eventCursor{Order: order, Seq: last.Seq, Cluster: last.Cluster}
		if order == timeOrder {
			c.Time = last.Time.UnixMicro()
		}
		page.Next = encodeCursor(c)
	}
	return page, nil
}

// ChainHead returns the last event of a cluster's chain.
func (s *sqlStore) ChainHead(ctx context.Context, cluster string) (Event, error) {
	var evs []Event
	err := s.db.read(ctx, func(q querier) error {
		rs, err := q.query(ctx, eventSelect+" WHERE e.cluster = ? ORDER BY e.seq DESC LIMIT 1", cluster)
		if err != nil {
			return err
		}
		evs, err = s.scanEvents(rs)
		return err
	})
	if err != nil {
		return Event{}, fmt.Errorf("chain head of cluster %s: %w", cluster, err)
	}
	if len(evs) == 0 {
		return Event{}, fmt.Errorf("chain head of cluster %s: %w", cluster, ErrNotFound)
	}
	return evs[0], nil
}

// RecordedHead returns the chain head recorded by a cluster's appends.
func (s *sqlStore) RecordedHead(ctx context.Context, cluster string) (int64, string, error) {
	var h chainHead
	err := s.db.read(ctx, func(q querier) error {
		return queryOne(ctx, q, []any{&h.seq, &h.hash}, "SELECT seq, hash FROM chain_heads WHERE cluster = ?", cluster)
	})
	if errors.Is(err, errNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return 0, "", fmt.Errorf("recorded chain head of cluster %s: %w", cluster, err)
	}
	return h.seq, h.hash, nil
}

// scanEvents reads and closes rows of eventColumns.
func (s *sqlStore) scanEvents(rs rows) ([]Event, error) {
	defer rs.Close()
	evs := []Event{}
	for rs.Next() {
		var (
			e                  Event
			groups, violations *string
			patch, details     []byte
		)
		err := rs.Scan(&e.Cluster, &e.Seq, &e.ID, s.d.timeDest(&e.Time), &e.Source, &e.User, &groups,
			&e.Operation, &e.APIVersion, &e.Kind, &e.Namespace, &e.Name, &e.UID, &e.Decision,
			&e.DryRun, &violations, &patch, &e.PolicySetVersion, &details,
			&e.PrevHash, &e.Hash)
		if err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		if groups != nil {
			if err := json.Unmarshal([]byte(*groups), &e.Groups); err != nil {
				return nil, fmt.Errorf("decode groups of event %s/%d: %w", e.Cluster, e.Seq, err)
			}
		}
		if violations != nil {
			if err := json.Unmarshal([]byte(*violations), &e.Violations); err != nil {
				return nil, fmt.Errorf("decode violations of event %s/%d: %w", e.Cluster, e.Seq, err)
			}
		}
		e.Groups, e.Violations = emptyAsNil(e.Groups), emptyAsNil(e.Violations)
		e.Patch = json.RawMessage(emptyAsNil(patch))
		e.Details = json.RawMessage(emptyAsNil(details))
		evs = append(evs, e)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return evs, nil
}
