package reports

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// StoreSource is a Source over the central store, using only store.Store's
// methods. Where the store has no query for what a report needs it pages through
// events or findings instead; each such place says what query would replace it.
type StoreSource struct {
	Store store.Store
	// Now tells the time; default time.Now. A snapshot at or after now needs only
	// the open findings, an earlier one also those resolved since.
	Now func() time.Time
}

var _ Source = (*StoreSource)(nil)

// pageSize is the store's largest page.
const pageSize = 1000

// Trail decisions and details written by the auditor (pkg/audit/results) and the
// webhook that reports read.
const (
	decisionOpened = "opened"
	decisionDenied = "denied"
	decisionWarned = "warned"
)

// Clusters lists every cluster the store holds events or objects of.
func (s *StoreSource) Clusters(ctx context.Context) ([]string, error) {
	infos, err := s.Store.Clusters(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, c := range infos {
		out[i] = c.Name
	}
	slices.Sort(out)
	return out, nil
}

// HasCluster says whether the store holds events or objects of the cluster.
func (s *StoreSource) HasCluster(ctx context.Context, cluster string) (bool, error) {
	if cluster == "" {
		return false, nil
	}
	_, err := s.Store.ChainHead(ctx, cluster)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	names, err := s.Clusters(ctx)
	if err != nil {
		return false, err
	}
	return slices.Contains(names, cluster), nil
}

// OpenFindings returns the findings open at the period's end. The store can filter
// findings by state but not by when they were resolved, so a snapshot before now
// also reads the resolved ones. A finding opened before the period gets its
// "opened" events here; the store cannot look events up by the finding IDs in
// their details, so this reads the audit "opened" events before the period.
func (s *StoreSource) OpenFindings(ctx context.Context, cluster string, period Period) ([]Finding, error) {
	at := period.To
	states := []string{"open"}
	if at.Before(s.now()) {
		states = append(states, "resolved") // resolved after at: open in the snapshot
	}
	var out []Finding
	index := map[string]int{}
	early := false // a finding opened before the period
	for _, state := range states {
		q := store.FindingQuery{Cluster: cluster, State: state, Limit: pageSize}
	pages:
		for {
			page, err := s.Store.Findings(ctx, q)
			if err != nil {
				return nil, err
			}
			for _, f := range page.Findings {
				if !f.FirstSeen.Before(at) {
					break pages // pages are ordered by FirstSeen
				}
				if f.ResolvedAt != nil && f.ResolvedAt.Before(at) {
					continue
				}
				index[f.ID] = len(out)
				out = append(out, Finding{Finding: f})
				early = early || f.FirstSeen.Before(period.From)
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	if !early {
		return out, nil
	}
	q := store.EventQuery{Cluster: cluster, Source: trail.SourceAudit, Decision: decisionOpened, Time: store.TimeRange{To: period.From}}
	opened := openedIndex{}
	if err := s.eachEvent(ctx, q, opened.add); err != nil {
		return nil, err
	}
	for id, refs := range opened {
		if i, ok := index[id]; ok {
			out[i].Events = refs
		}
	}
	return out, nil
}

// openedIndex maps finding IDs to the audit events that opened them.
type openedIndex map[string][]EventRef

// add indexes e if it is an auditor's "opened" event naming findings.
func (o openedIndex) add(e store.Event) error {
	if e.Source != trail.SourceAudit || e.Decision != decisionOpened || len(e.Details) == 0 {
		return nil
	}
	var d struct {
		Findings []string `json:"findings"`
	}
	if json.Unmarshal(e.Details, &d) != nil {
		return nil // not the auditor's format: names no finding
	}
	for _, id := range d.Findings {
		o[id] = append(o[id], EventRef{Seq: e.Seq, ID: e.ID})
	}
	return nil
}

// Trail verifies the period's range of the cluster's chain with trail.Verify and,
// from the same pages of events, counts admission decisions and exemption uses and
// indexes the auditor's "opened" events: one read of the trail instead of three.
// (The store has no counting query; a GROUP BY over events and event_policies
// would count without reading events.) When the chain is broken, verification
// stops at the break, so the summary is then read in a second pass.
func (s *StoreSource) Trail(ctx context.Context, cluster string, period Period) (TrailSummary, error) {
	sum := newSummary()
	seen := map[int64]bool{}
	tee := &teeStore{Store: s.Store, cluster: cluster, observe: func(e store.Event) {
		if inPeriod(e.Time, period) && !seen[e.Seq] {
			seen[e.Seq] = true
			sum.add(e)
		}
	}}
	res, err := trail.Verify(ctx, tee, cluster, trail.Range{From: period.From, To: period.To})
	if err != nil {
		return TrailSummary{}, err
	}
	if res.Broken != nil {
		sum = newSummary()
		q := store.EventQuery{Cluster: cluster, Time: store.TimeRange{From: period.From, To: period.To}}
		err := s.eachEvent(ctx, q, func(e store.Event) error {
			sum.add(e)
			return nil
		})
		if err != nil {
			return TrailSummary{}, err
		}
	}
	sum.Range = TrailRangeOf(res)
	return sum.TrailSummary, nil
}

// inPeriod says whether t falls in the period (From inclusive, To exclusive).
func inPeriod(t time.Time, p Period) bool {
	return !t.Before(p.From) && (p.To.IsZero() || t.Before(p.To))
}

// teeStore shows observe every event of the cluster that Events returns.
type teeStore struct {
	store.Store
	cluster string
	observe func(store.Event)
}

func (t *teeStore) Events(ctx context.Context, q store.EventQuery) (store.EventPage, error) {
	page, err := t.Store.Events(ctx, q)
	if err == nil {
		for _, e := range page.Events {
			if e.Cluster == t.cluster {
				t.observe(e)
			}
		}
	}
	return page, err
}

// summary accumulates a TrailSummary event by event.
type summary struct {
	TrailSummary
	opened openedIndex
}

func newSummary() *summary {
	o := openedIndex{}
	return &summary{TrailSummary: TrailSummary{Admissions: Admissions{PerPolicy: map[string]PolicyAdmissions{}}, Opened: o}, opened: o}
}

func (s *summary) add(e store.Event) {
	switch e.Source {
	case trail.SourceAdmission:
		countAdmission(&s.Admissions, e)
	case trail.SourceExemption:
		if e.DryRun {
			return
		}
		for _, id := range distinctPolicies(e.Violations) {
			pa := s.Admissions.PerPolicy[id]
			pa.Exempted++
			s.Admissions.PerPolicy[id] = pa
		}
	case trail.SourceAudit:
		s.opened.add(e)
	}
}

// countAdmission adds one admission event to the tallies. A policy's part is
// counted by its own enforcement: a warning in a request another policy denied is
// still a warning.
func countAdmission(a *Admissions, e store.Event) {
	if e.DryRun {
		a.Totals.DryRuns++
		return
	}
	a.Totals.Total++
	switch e.Decision {
	case decisionDenied:
		a.Totals.Denied++
	case decisionWarned:
		a.Totals.Warned++
	default:
		a.Totals.Allowed++
	}
	seen := map[string]bool{}
	for _, v := range e.Violations {
		if v.PolicyID == "" || seen[v.PolicyID] {
			continue
		}
		seen[v.PolicyID] = true
		pa := a.PerPolicy[v.PolicyID]
		switch {
		case v.Enforcement == "deny" && e.Decision == decisionDenied:
			pa.Denied++
		case v.Enforcement == "warn" || (v.Enforcement == "deny" && e.Decision == decisionWarned):
			pa.Warned++
		default:
			pa.Allowed++
		}
		a.PerPolicy[v.PolicyID] = pa
	}
}

// distinctPolicies are the policy IDs named in violations, each once.
func distinctPolicies(vs []store.Violation) []string {
	var out []string
	for _, v := range vs {
		if v.PolicyID != "" && !slices.Contains(out, v.PolicyID) {
			out = append(out, v.PolicyID)
		}
	}
	return out
}

// TrailRangeOf is a verification result as a report records it.
func TrailRangeOf(res trail.VerifyResult) TrailRange {
	t := TrailRange{Status: TrailIntact, FromSeq: res.FirstSeq, ToSeq: res.LastSeq, Events: res.Count, LastHash: res.LastHash}
	switch {
	case res.Broken != nil:
		t.Status = TrailBroken
		t.Break = &TrailBreak{Seq: res.Broken.Seq, EventID: res.Broken.ID, Reason: res.Broken.Reason}
	case res.Count == 0:
		t.Status = TrailEmpty
	}
	return t
}

// Inventory is unknown: the store records every evaluated object (its objects
// table) but has no query that reads them back, such as counts by kind.
func (s *StoreSource) Inventory(context.Context, string, time.Time) (Inventory, error) {
	return Inventory{Known: false}, nil
}

// eachEvent calls fn for every event q selects, page by page.
func (s *StoreSource) eachEvent(ctx context.Context, q store.EventQuery, fn func(store.Event) error) error {
	q.Limit = pageSize
	for {
		page, err := s.Store.Events(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page.Events {
			if err := fn(e); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}

func (s *StoreSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
