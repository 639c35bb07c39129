package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

func report(id, cluster string, minute int, frameworks ...string) store.ReportRecord {
	scope := "cluster"
	if cluster == "" {
		scope = "fleet"
	}
	return store.ReportRecord{
		ID: id, Cluster: cluster, Scope: scope, Frameworks: frameworks,
		GeneratedAt: at(minute), PeriodTo: at(minute), TrailOK: true,
		Summary: []byte(`[{"framework":"cis","score":0.5}]`),
		Body:    []byte(strings.Repeat(`{"id":"`+id+`","padding":"compressible"}`, 50)),
	}
}

func testReports(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	t.Run("keeps reports whole and lists them newest first", func(t *testing.T) {
		s := open(t)
		for i := range 12 {
			cluster := []string{"east", "west", ""}[i%3]
			if err := s.PutReport(ctx, report(fmt.Sprintf("r%02d", i), cluster, i, "cis", "pss")); err != nil {
				t.Fatal(err)
			}
		}
		r := report("r-gdpr", "east", 20, "gdpr")
		r.PeriodFrom = at(-60)
		r.TrailOK = false
		if err := s.PutReport(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.Report(ctx, "r-gdpr")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Body, r.Body) || got.Size != int64(len(r.Body)) || got.TrailOK || !got.PeriodFrom.Equal(stored(at(-60))) ||
			!got.GeneratedAt.Equal(stored(at(20))) || string(got.Summary) != string(r.Summary) || fmt.Sprint(got.Frameworks) != "[gdpr]" {
			t.Errorf("stored %+v", got)
		}
		if _, err := s.Report(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown report: %v, want ErrNotFound", err)
		}

		east, fleet := "east", ""
		for _, tc := range []struct {
			name string
			q    store.ReportQuery
			want []string
		}{
			{"everything", store.ReportQuery{}, []string{"r-gdpr", "r11", "r10", "r09", "r08", "r07", "r06", "r05", "r04", "r03", "r02", "r01", "r00"}},
			{"one cluster", store.ReportQuery{Cluster: &east}, []string{"r-gdpr", "r09", "r06", "r03", "r00"}},
			{"the fleet", store.ReportQuery{Cluster: &fleet}, []string{"r11", "r08", "r05", "r02"}},
			{"a framework", store.ReportQuery{Framework: "gdpr"}, []string{"r-gdpr"}},
			{"a framework of several", store.ReportQuery{Cluster: &east, Framework: "pss"}, []string{"r09", "r06", "r03", "r00"}},
			{"a time range", store.ReportQuery{Time: store.TimeRange{From: at(3), To: at(6)}}, []string{"r05", "r04", "r03"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, limit := range []int{0, 2} {
					q := tc.q
					q.Limit = limit
					var ids []string
					for pages := 0; ; pages++ {
						if pages > 20 {
							t.Fatal("the cursor does not advance")
						}
						page, err := s.Reports(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						for _, r := range page.Reports {
							if r.Body != nil {
								t.Fatalf("a listed report carries its body")
							}
							ids = append(ids, r.ID)
						}
						if page.Next == "" {
							break
						}
						q.Cursor = page.Next
					}
					equalIDs(t, fmt.Sprintf("limit %d", limit), ids, tc.want)
				}
			})
		}
	})

	t.Run("never changes a stored report", func(t *testing.T) {
		s := open(t)
		r := report("r1", "east", 1, "cis")
		if err := s.PutReport(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.PutReport(ctx, r); err != nil {
			t.Errorf("storing the same report again (a retry): %v", err)
		}
		changed := r
		changed.Body = []byte(`{"id":"r1","tampered":true}`)
		if err := s.PutReport(ctx, changed); err == nil || !strings.Contains(err.Error(), "never changed") {
			t.Errorf("storing another body under the same ID: %v", err)
		}
		got, err := s.Report(ctx, "r1")
		if err != nil || !bytes.Equal(got.Body, r.Body) {
			t.Errorf("after the refused change: %v", err)
		}
	})

	t.Run("refuses incomplete reports", func(t *testing.T) {
		s := open(t)
		for name, mod := range map[string]func(*store.ReportRecord){
			"no ID":         func(r *store.ReportRecord) { r.ID = "" },
			"no body":       func(r *store.ReportRecord) { r.Body = nil },
			"no time":       func(r *store.ReportRecord) { r.GeneratedAt = time.Time{} },
			"a bad summary": func(r *store.ReportRecord) { r.Summary = []byte("{") },
			"no scope":      func(r *store.ReportRecord) { r.Scope = "" },
		} {
			r := report("bad", "east", 1, "cis")
			mod(&r)
			if err := s.PutReport(ctx, r); err == nil {
				t.Errorf("%s: stored", name)
			}
		}
	})
}
