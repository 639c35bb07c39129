package reports

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// Keeper generates reports, signs them with the server's key and keeps them in the
// store, where they are never changed; it reads kept reports back, checking their
// signature, and generates every cluster's report on a schedule so that trends and
// "compliant since" have a history.
type Keeper struct {
	// Generator makes the reports; its Source is ignored: the Keeper reads the
	// store it is given.
	Generator Generator
	Key       ed25519.PrivateKey
	Logger    *slog.Logger
}

// Create generates, signs and keeps a report.
func (k *Keeper) Create(ctx context.Context, st store.Store, req Request) (store.ReportRecord, *Report, error) {
	gen := k.Generator
	gen.Source = &StoreSource{Store: st, Now: gen.Now}
	r, err := gen.Generate(ctx, req)
	if err != nil {
		return store.ReportRecord{}, nil, err
	}
	if err := Sign(r, k.Key); err != nil {
		return store.ReportRecord{}, nil, err
	}
	var body bytes.Buffer
	if err := WriteJSON(&body, r); err != nil {
		return store.ReportRecord{}, nil, err
	}
	rec, err := recordOf(r, body.Bytes())
	if err != nil {
		return store.ReportRecord{}, nil, err
	}
	if err := st.PutReport(ctx, rec); err != nil {
		return store.ReportRecord{}, nil, err
	}
	rec.Body = nil
	return rec, r, nil
}

// recordOf is what the store keeps of a signed report.
func recordOf(r *Report, body []byte) (store.ReportRecord, error) {
	summary, err := json.Marshal(r.Summary)
	if err != nil {
		return store.ReportRecord{}, err
	}
	rec := store.ReportRecord{
		ID: r.ID, Scope: r.Scope, GeneratedAt: r.GeneratedAt, PeriodFrom: r.Period.From, PeriodTo: r.Period.To,
		TrailOK: len(r.BrokenTrails()) == 0, Summary: summary, Body: body,
	}
	if r.Scope == ScopeCluster && len(r.Clusters) == 1 {
		rec.Cluster = r.Clusters[0].Cluster
	}
	for _, f := range r.Frameworks {
		rec.Frameworks = append(rec.Frameworks, f.ID)
	}
	return rec, nil
}

// Load reads a kept report and checks its signature against the Keeper's key: a
// report altered in the store is an error, never served.
func (k *Keeper) Load(ctx context.Context, st store.Store, id string) (*Report, error) {
	rec, err := st.Report(ctx, id)
	if err != nil {
		return nil, err
	}
	r, _, err := VerifyJSON(rec.Body, k.Key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("report %s as stored: %w", id, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("report %s as stored: %w: it holds report %s", id, ErrBadSignature, r.ID)
	}
	return r, nil
}

// Scheduled says when the schedule makes reports.
type Scheduled struct {
	// Every is how old a cluster's newest scheduled report may grow; default 24h.
	Every time.Duration
	// Check is how often the schedule looks; default Every/288 (5m for daily
	// reports), at least 1m, so a new cluster's first report comes soon.
	Check time.Duration
	// Framework of the scheduled reports; default every framework.
	Framework string
}

// Schedule makes, every s.Every, a report of every cluster the store holds and one of
// the fleet, until ctx ends. It looks every s.Check, so that a server that was down
// catches up, and skips a cluster whose newest report is younger than s.Every.
// store returns the store, or nil while the server is not connected to it.
func (k *Keeper) Schedule(ctx context.Context, storeOf func() store.Store, s Scheduled) {
	if s.Every <= 0 {
		s.Every = 24 * time.Hour
	}
	if s.Check <= 0 {
		s.Check = max(time.Minute, s.Every/288)
	}
	if s.Framework == "" {
		s.Framework = compliance.All
	}
	for {
		wait := s.Check
		if st := storeOf(); st == nil {
			wait = min(s.Check, 2*time.Second) // not connected yet: look again soon
		} else if err := k.scheduleOnce(ctx, st, s); err != nil && ctx.Err() == nil {
			k.logger().Error("scheduled reports", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// scheduleOnce makes the reports that are due.
func (k *Keeper) scheduleOnce(ctx context.Context, st store.Store, s Scheduled) error {
	infos, err := st.Clusters(ctx)
	if err != nil {
		return err
	}
	var errs []error
	targets := []Request{{Fleet: true, Framework: s.Framework}}
	for _, c := range infos {
		if c.Name != trail.ServerCluster {
			targets = append(targets, Request{Cluster: c.Name, Framework: s.Framework})
		}
	}
	if len(targets) == 1 {
		return nil // no cluster yet: nothing to report on
	}
	frameworks, err := k.Generator.Catalogue.Select(s.Framework)
	if err != nil {
		return err
	}
	var ids []string
	for _, f := range frameworks {
		ids = append(ids, f.ID)
	}
	now := time.Now()
	if k.Generator.Now != nil {
		now = k.Generator.Now()
	}
	for _, req := range targets {
		cluster := req.Cluster
		// Reports made by hand for other frameworks do not count.
		page, err := st.Reports(ctx, store.ReportQuery{Cluster: &cluster, Framework: ids[0], Time: store.TimeRange{From: now.Add(-s.Every)}, Limit: 100})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if slices.ContainsFunc(page.Reports, func(r store.ReportRecord) bool { return slices.Equal(r.Frameworks, ids) }) {
			continue
		}
		rec, _, err := k.Create(ctx, st, req)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", targetName(req), err))
			continue
		}
		k.logger().Info("scheduled report made", "report", rec.ID, "target", targetName(req), "trailOK", rec.TrailOK)
	}
	return errors.Join(errs...)
}

func targetName(req Request) string {
	if req.Fleet {
		return "the fleet"
	}
	return "cluster " + req.Cluster
}

func (k *Keeper) logger() *slog.Logger {
	if k.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return k.Logger
}

// ScoreOf reads one framework's score from a kept report's summary (nil: none,
// such as a framework without automated controls).
func ScoreOf(rec store.ReportRecord, framework string) (*float64, bool) {
	var summary []FrameworkSummary
	if err := json.Unmarshal(rec.Summary, &summary); err != nil {
		return nil, false
	}
	i := slices.IndexFunc(summary, func(s FrameworkSummary) bool { return s.Framework == framework })
	if i < 0 {
		return nil, false
	}
	return summary[i].Score, true
}
