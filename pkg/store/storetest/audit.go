package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/bailiff/bailiff/pkg/store"
)

// auditEvents makes one "opened" and one "resolved" event per item that
// changed something, naming the item.
func auditEvents(cluster string) func(int, store.FindingChanges) []store.Event {
	return func(item int, c store.FindingChanges) []store.Event {
		var out []store.Event
		for _, g := range []struct {
			decision string
			n        int
		}{{"opened", len(c.Opened)}, {"resolved", len(c.Resolved)}} {
			if g.n == 0 {
				continue
			}
			out = append(out, event(cluster, fmt.Sprintf("item%d-%s", item, g.decision), func(e *store.Event) {
				e.Source, e.Decision, e.Name = "audit", g.decision, fmt.Sprintf("%d findings", g.n)
			}))
		}
		return out
	}
}

func testRecordAudit(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	api := web
	api.UID, api.Name = "uid-api", "api"

	t.Run("records results, deletions and their events together", func(t *testing.T) {
		s := open(t)
		syncOK(t, s, api, at(1), violation("limits", "no memory limit"))
		out, err := s.RecordAudit(ctx, store.AuditBatch{
			Cluster: "east",
			Results: []store.ObjectResult{
				{Object: web, EvaluatedAt: at(2), PolicySetVersion: "v2", Violations: []store.Violation{violation("latest", "image uses :latest")}},
				{Object: api, EvaluatedAt: at(2), PolicySetVersion: "v2"},
			},
			Deletions: []store.ObjectDeletion{{UID: "uid-web", DeletedAt: at(3)}, {UID: "never-seen", DeletedAt: at(3)}},
			Events:    auditEvents("east"),
		}, Hash)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Changes) != 4 {
			t.Fatalf("%d changes for 4 items", len(out.Changes))
		}
		counts := [][2]int{}
		for _, c := range out.Changes {
			counts = append(counts, [2]int{len(c.Opened), len(c.Resolved)})
		}
		if want := [][2]int{{1, 0}, {0, 1}, {0, 1}, {0, 0}}; fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Errorf("opened/resolved per item = %v, want %v", counts, want)
		}
		if out.Append.Stored != 3 || out.Append.LastSeq != 3 {
			t.Errorf("append = %+v, want 3 events stored, head at 3", out.Append)
		}
		if open := allFindings(t, s, store.FindingQuery{State: "open"}); len(open) != 0 {
			t.Errorf("open afterwards: %v", describeAll(open))
		}
		all := allFindings(t, s, store.FindingQuery{})
		if len(all) != 2 {
			t.Fatalf("findings afterwards: %v", describeAll(all))
		}
		evs := allEvents(t, s, store.EventQuery{Cluster: "east"})
		checkChain(t, evs)
		equalIDs(t, "events", eventIDs(evs), []string{"item0-opened", "item1-resolved", "item2-resolved"})
		// The deletion holds: a late evaluation of web reopens nothing.
		if late := syncOK(t, s, web, at(2), violation("latest", "image uses :latest")); len(late.Opened) != 0 {
			t.Errorf("a late result reopened %+v", late.Opened)
		}
	})

	t.Run("plans an object named twice in order", func(t *testing.T) {
		s := open(t)
		out, err := s.RecordAudit(ctx, store.AuditBatch{Cluster: "east", Results: []store.ObjectResult{
			{Object: web, EvaluatedAt: at(1), Violations: []store.Violation{violation("limits", "no memory limit")}},
			{Object: web, EvaluatedAt: at(2), Violations: []store.Violation{violation("latest", "image uses :latest")}},
			{Object: web, EvaluatedAt: at(1), Violations: []store.Violation{violation("other", "older, ignored")}},
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c := out.Changes; len(c[0].Opened) != 1 || len(c[1].Opened) != 1 || len(c[1].Resolved) != 1 || len(c[2].Opened)+len(c[2].Resolved) != 0 {
			t.Errorf("changes = %+v", c)
		}
		equalIDs(t, "findings", describeAll(allFindings(t, s, store.FindingQuery{})), []string{
			"east/uid-web latest||image uses :latest first " + clock(2) + " last " + clock(2),
			"east/uid-web limits||no memory limit first " + clock(1) + " last " + clock(1) + " resolved " + clock(2),
		})
	})

	t.Run("stores nothing when any part fails", func(t *testing.T) {
		for name, batch := range map[string]store.AuditBatch{
			"an event without an ID": {Cluster: "east",
				Results: []store.ObjectResult{{Object: web, EvaluatedAt: at(1), Violations: []store.Violation{violation("limits", "no memory limit")}}},
				Events: func(int, store.FindingChanges) []store.Event {
					return []store.Event{event("east", "")}
				}},
			"a result of another cluster": {Cluster: "east", Results: []store.ObjectResult{
				{Object: web, EvaluatedAt: at(1), Violations: []store.Violation{violation("limits", "no memory limit")}},
				{Object: store.ObjectRef{Cluster: "west", UID: "w"}, EvaluatedAt: at(1)},
			}},
			"a violation without a policy": {Cluster: "east", Results: []store.ObjectResult{
				{Object: web, EvaluatedAt: at(1), Violations: []store.Violation{{Message: "who says so?"}}},
			}},
			"no cluster":               {Results: []store.ObjectResult{{Object: web, EvaluatedAt: at(1)}}},
			"a deletion without a UID": {Cluster: "east", Deletions: []store.ObjectDeletion{{DeletedAt: at(1)}}},
		} {
			t.Run(name, func(t *testing.T) {
				s := open(t)
				if _, err := s.RecordAudit(ctx, batch, Hash); err == nil {
					t.Fatal("RecordAudit accepted it")
				}
				if all := allFindings(t, s, store.FindingQuery{}); len(all) != 0 {
					t.Errorf("findings stored anyway: %v", describeAll(all))
				}
				// The object was not recorded either: a first result opens its finding.
				if c := syncOK(t, s, web, at(1), violation("limits", "no memory limit")); len(c.Opened) != 1 {
					t.Errorf("after the failed batch, a first result opened %d findings", len(c.Opened))
				}
			})
		}
	})

	t.Run("concurrent batches over the same objects", func(t *testing.T) {
		s := open(t)
		var objects []store.ObjectRef
		for i := range 40 {
			o := web
			o.UID, o.Name = fmt.Sprintf("uid-%02d", i), fmt.Sprintf("web-%02d", i)
			objects = append(objects, o)
		}
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for w := range errs {
			wg.Go(func() {
				var rs []store.ObjectResult
				for i := range objects {
					o := objects[(i*7+w*13)%len(objects)] // each batch in its own order
					rs = append(rs, store.ObjectResult{Object: o, EvaluatedAt: at(w), Violations: []store.Violation{violation("limits", fmt.Sprintf("round %d", w))}})
				}
				_, errs[w] = s.RecordAudit(ctx, store.AuditBatch{Cluster: "east", Results: rs, Events: auditEvents("east")}, Hash)
			})
		}
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Errorf("batch %d: %v", w, err)
			}
		}
		open := allFindings(t, s, store.FindingQuery{State: "open"})
		if len(open) != len(objects) {
			t.Fatalf("%d open findings for %d objects", len(open), len(objects))
		}
		for _, f := range open {
			if f.Message != "round 5" {
				t.Errorf("%s: open finding %q, want the newest round's", f.UID, f.Message)
			}
		}
	})
}
