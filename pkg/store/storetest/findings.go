package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

var web = store.ObjectRef{Cluster: "east", UID: "uid-web", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "prod", Name: "web"}

// violation is a high-severity denial by policy with message.
func violation(policy, message string) store.Violation {
	return store.Violation{PolicyID: policy, Severity: "high", Enforcement: "deny", Message: message}
}

func syncOK(t *testing.T, s store.Store, obj store.ObjectRef, when time.Time, vs ...store.Violation) store.FindingChanges {
	t.Helper()
	changes, err := s.SyncFindings(context.Background(), store.ObjectResult{Object: obj, EvaluatedAt: when, PolicySetVersion: "v1", Violations: vs})
	if err != nil {
		t.Fatalf("SyncFindings: %v", err)
	}
	return changes
}

// allFindings walks every page of q.
func allFindings(t *testing.T, s store.Store, q store.FindingQuery) []store.Finding {
	t.Helper()
	var all []store.Finding
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("more than 10000 pages: the cursor does not advance")
		}
		page, err := s.Findings(context.Background(), q)
		if err != nil {
			t.Fatalf("Findings(%+v): %v", q, err)
		}
		for _, f := range page.Findings {
			if seen[f.ID] {
				t.Fatalf("finding %s returned twice", f.ID)
			}
			seen[f.ID] = true
		}
		all = append(all, page.Findings...)
		if page.Next == "" {
			return all
		}
		q.Cursor = page.Next
	}
}

// describe is a finding in one line, for comparisons: its violation and times.
func describe(f store.Finding) string {
	s := fmt.Sprintf("%s/%s %s|%s|%s first %s last %s", f.Cluster, f.UID, f.PolicyID, f.Field, f.Message,
		f.FirstSeen.Format(time.TimeOnly), f.LastSeen.Format(time.TimeOnly))
	if f.ResolvedAt != nil {
		s += " resolved " + f.ResolvedAt.Format(time.TimeOnly)
	}
	return s
}

// describeAll describes findings, sorted.
func describeAll(fs []store.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, describe(f))
	}
	slices.Sort(out)
	return out
}

func testSyncFindings(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("opens, refreshes and resolves findings", func(t *testing.T) {
		s := open(t)
		first := syncOK(t, s, web, at(1), violation("limits", "no memory limit"), violation("latest", "image uses :latest"))
		if len(first.Opened) != 2 || len(first.Resolved) != 0 {
			t.Fatalf("first sync: %+v", first)
		}
		for _, f := range first.Opened {
			if f.ID == "" || f.ObjectRef != web || !f.FirstSeen.Equal(stored(at(1))) || f.ResolvedAt != nil {
				t.Errorf("opened %+v", f)
			}
		}

		second := syncOK(t, s, web, at(2), violation("limits", "no memory limit"), violation("root", "runs as root"))
		equalIDs(t, "opened by the second sync", describeAll(second.Opened),
			[]string{"east/uid-web root||runs as root first " + clock(2) + " last " + clock(2)})
		equalIDs(t, "resolved by the second sync", describeAll(second.Resolved),
			[]string{"east/uid-web latest||image uses :latest first " + clock(1) + " last " + clock(1) + " resolved " + clock(2)})

		open := allFindings(t, s, store.FindingQuery{State: "open"})
		equalIDs(t, "open findings", describeAll(open), []string{
			"east/uid-web limits||no memory limit first " + clock(1) + " last " + clock(2),
			"east/uid-web root||runs as root first " + clock(2) + " last " + clock(2),
		})
		limits := findingOf(t, open, "limits")
		if want := findingOf(t, first.Opened, "limits"); limits.ID != want.ID {
			t.Errorf("the refreshed finding's ID changed from %s to %s", want.ID, limits.ID)
		}
		if !limits.FirstSeen.Equal(stored(at(1))) || limits.FirstSeen.Location() != time.UTC {
			t.Errorf("FirstSeen %v, want %v in UTC", limits.FirstSeen, stored(at(1)))
		}
		resolved := allFindings(t, s, store.FindingQuery{State: "resolved"})
		if len(resolved) != 1 || resolved[0].ID != findingOf(t, first.Opened, "latest").ID {
			t.Errorf("resolved findings: %v", describeAll(resolved))
		}
	})

	t.Run("resolves everything when the object passes", func(t *testing.T) {
		s := open(t)
		syncOK(t, s, web, at(1), violation("limits", "no memory limit"), violation("latest", "image uses :latest"))
		changes := syncOK(t, s, web, at(2))
		if len(changes.Opened) != 0 || len(changes.Resolved) != 2 {
			t.Errorf("passing sync: %+v", changes)
		}
		if open := allFindings(t, s, store.FindingQuery{State: "open"}); len(open) != 0 {
			t.Errorf("open after passing: %v", describeAll(open))
		}
		if again := syncOK(t, s, web, at(3)); len(again.Opened)+len(again.Resolved) != 0 {
			t.Errorf("passing again changed %+v", again)
		}
	})

	t.Run("keys findings by field and message too", func(t *testing.T) {
		s := open(t)
		a := store.Violation{PolicyID: "limits", Message: "no memory limit", Field: "spec.containers[0]"}
		b := store.Violation{PolicyID: "limits", Message: "no memory limit", Field: "spec.containers[1]"}
		if changes := syncOK(t, s, web, at(1), a, b); len(changes.Opened) != 2 {
			t.Errorf("two fields of one policy opened %d findings", len(changes.Opened))
		}
		c := b
		c.Message = "no cpu limit"
		changes := syncOK(t, s, web, at(2), a, c)
		if len(changes.Opened) != 1 || changes.Opened[0].Message != "no cpu limit" ||
			len(changes.Resolved) != 1 || changes.Resolved[0].Message != "no memory limit" || changes.Resolved[0].Field != b.Field {
			t.Errorf("a changed message: %+v", changes)
		}
	})

	t.Run("opens one finding for a violation reported twice", func(t *testing.T) {
		s := open(t)
		v := violation("limits", "no memory limit")
		if changes := syncOK(t, s, web, at(1), v, v); len(changes.Opened) != 1 {
			t.Errorf("opened %d findings", len(changes.Opened))
		}
	})

	t.Run("updates the severity of an open finding", func(t *testing.T) {
		s := open(t)
		v := violation("limits", "no memory limit")
		syncOK(t, s, web, at(1), v)
		v.Severity, v.Enforcement = "low", "warn"
		if changes := syncOK(t, s, web, at(2), v); len(changes.Opened)+len(changes.Resolved) != 0 {
			t.Errorf("a new severity changed %+v", changes)
		}
		open := allFindings(t, s, store.FindingQuery{State: "open"})
		if len(open) != 1 || open[0].Severity != "low" || open[0].Enforcement != "warn" {
			t.Errorf("open findings: %+v", open)
		}
	})

	t.Run("opens a new finding when a resolved violation returns", func(t *testing.T) {
		s := open(t)
		v := violation("limits", "no memory limit")
		first := syncOK(t, s, web, at(1), v)
		syncOK(t, s, web, at(2))
		again := syncOK(t, s, web, at(3), v)
		if len(again.Opened) != 1 || again.Opened[0].ID == first.Opened[0].ID {
			t.Fatalf("the returning violation: %+v (first finding %s)", again, first.Opened[0].ID)
		}
		equalIDs(t, "history", describeAll(allFindings(t, s, store.FindingQuery{})), []string{
			"east/uid-web limits||no memory limit first " + clock(1) + " last " + clock(1) + " resolved " + clock(2),
			"east/uid-web limits||no memory limit first " + clock(3) + " last " + clock(3),
		})
	})

	t.Run("ignores a result older than the last evaluation", func(t *testing.T) {
		s := open(t)
		syncOK(t, s, web, at(2), violation("limits", "no memory limit"))
		if changes := syncOK(t, s, web, at(1)); len(changes.Opened)+len(changes.Resolved) != 0 {
			t.Errorf("a stale result changed %+v", changes)
		}
		if open := allFindings(t, s, store.FindingQuery{State: "open"}); len(open) != 1 {
			t.Errorf("open after a stale result: %v", describeAll(open))
		}
	})

	t.Run("keeps objects apart", func(t *testing.T) {
		s := open(t)
		api := web
		api.UID, api.Name = "uid-api", "api"
		syncOK(t, s, web, at(1), violation("limits", "no memory limit"))
		syncOK(t, s, api, at(1), violation("limits", "no memory limit"))
		if changes := syncOK(t, s, api, at(2)); len(changes.Resolved) != 1 || changes.Resolved[0].UID != "uid-api" {
			t.Errorf("api passing: %+v", changes)
		}
		if open := allFindings(t, s, store.FindingQuery{State: "open"}); len(open) != 1 || open[0].UID != "uid-web" {
			t.Errorf("open: %v", describeAll(open))
		}
	})

	t.Run("opens and resolves a finding once when syncs of one object race", func(t *testing.T) {
		s := open(t)
		// Rounds of 8 concurrent syncs with equal results, alternately
		// violating and passing.
		for round := range 6 {
			var vs []store.Violation
			if round%2 == 1 {
				vs = []store.Violation{violation("limits", "no memory limit")}
			}
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() {
					_, errs[i] = s.SyncFindings(context.Background(), store.ObjectResult{Object: web, EvaluatedAt: at(round), Violations: vs})
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d, sync %d: %v", round, i, err)
				}
			}
		}
		all := allFindings(t, s, store.FindingQuery{})
		equalIDs(t, "findings", describeAll(all), []string{
			"east/uid-web limits||no memory limit first " + clock(1) + " last " + clock(1) + " resolved " + clock(2),
			"east/uid-web limits||no memory limit first " + clock(3) + " last " + clock(3) + " resolved " + clock(4),
			"east/uid-web limits||no memory limit first " + clock(5) + " last " + clock(5),
		})
	})

	for _, tc := range []struct {
		name string
		res  store.ObjectResult
	}{
		{"rejects an object without a UID", store.ObjectResult{Object: store.ObjectRef{Cluster: "east", Name: "x"}, EvaluatedAt: t0}},
		{"rejects an object without a cluster", store.ObjectResult{Object: store.ObjectRef{UID: "u", Name: "x"}, EvaluatedAt: t0}},
		{"rejects a violation without a policy", store.ObjectResult{Object: web, EvaluatedAt: t0, Violations: []store.Violation{{Message: "m"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if _, err := s.SyncFindings(context.Background(), tc.res); err == nil {
				t.Error("SyncFindings accepted it")
			}
		})
	}
}

// clock is at(n) as describe prints it.
func clock(n int) string { return stored(at(n)).Format(time.TimeOnly) }

func findingOf(t *testing.T, fs []store.Finding, policy string) store.Finding {
	t.Helper()
	for _, f := range fs {
		if f.PolicyID == policy {
			return f
		}
	}
	t.Fatalf("no finding of policy %s among %v", policy, describeAll(fs))
	return store.Finding{}
}

func testForgetObject(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("resolves all open findings of the object", func(t *testing.T) {
		s := open(t)
		api := web
		api.UID = "uid-api"
		syncOK(t, s, web, at(1), violation("limits", "no memory limit"), violation("latest", "image uses :latest"))
		syncOK(t, s, api, at(1), violation("limits", "no memory limit"))
		changes, err := s.ForgetObject(context.Background(), "east", "uid-web", at(5))
		if err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "resolved", describeAll(changes.Resolved), []string{
			"east/uid-web latest||image uses :latest first " + clock(1) + " last " + clock(1) + " resolved " + clock(5),
			"east/uid-web limits||no memory limit first " + clock(1) + " last " + clock(1) + " resolved " + clock(5),
		})
		if len(changes.Opened) != 0 {
			t.Errorf("ForgetObject opened %+v", changes.Opened)
		}
		if open := allFindings(t, s, store.FindingQuery{State: "open"}); len(open) != 1 || open[0].UID != "uid-api" {
			t.Errorf("open afterwards: %v", describeAll(open))
		}

		// An evaluation from before the deletion arrives late: ignored.
		if late := syncOK(t, s, web, at(4), violation("limits", "no memory limit")); len(late.Opened) != 0 {
			t.Errorf("a late result reopened %+v", late.Opened)
		}
		if again, err := s.ForgetObject(context.Background(), "east", "uid-web", at(6)); err != nil || len(again.Resolved) != 0 {
			t.Errorf("forgetting twice: %+v, %v", again, err)
		}
	})

	t.Run("changes nothing for an unknown object", func(t *testing.T) {
		s := open(t)
		changes, err := s.ForgetObject(context.Background(), "east", "nobody", at(1))
		if err != nil || len(changes.Opened)+len(changes.Resolved) != 0 {
			t.Errorf("ForgetObject of an unknown object: %+v, %v", changes, err)
		}
	})
}

func testFindings(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	type seeded struct {
		obj      store.ObjectRef
		v        store.Violation
		open     bool
		opened   time.Time
		resolved time.Time // zero while open
	}
	var all []seeded
	for i := range 30 {
		obj := store.ObjectRef{
			Cluster: []string{"east", "west"}[i%2], UID: fmt.Sprintf("uid-%02d", i), APIVersion: "v1",
			Kind: []string{"Pod", "Deployment", "Service"}[i%3], Namespace: []string{"default", "prod"}[(i/2)%2],
			Name: fmt.Sprintf("obj-%02d", i),
		}
		vs := []store.Violation{
			{PolicyID: "p1", Severity: []string{"high", "low"}[i%2], Message: "one"},
			{PolicyID: []string{"p2", "p3"}[(i/3)%2], Severity: "medium", Message: "two"},
		}
		syncOK(t, s, obj, at(i), vs...)
		if i%4 == 0 { // p1 goes away
			syncOK(t, s, obj, at(i+10), vs[1])
		}
		for j, v := range vs {
			f := seeded{obj: obj, v: v, open: true, opened: at(i)}
			if i%4 == 0 && j == 0 {
				f.open, f.resolved = false, at(i+10)
			}
			all = append(all, f)
		}
	}
	for _, tc := range []struct {
		name string
		q    store.FindingQuery
		keep func(seeded) bool
	}{
		{"everything", store.FindingQuery{}, func(seeded) bool { return true }},
		{"a cluster", store.FindingQuery{Cluster: "west"}, func(f seeded) bool { return f.obj.Cluster == "west" }},
		{"a namespace", store.FindingQuery{Namespace: "prod"}, func(f seeded) bool { return f.obj.Namespace == "prod" }},
		{"a kind", store.FindingQuery{Kind: "Service"}, func(f seeded) bool { return f.obj.Kind == "Service" }},
		{"a policy", store.FindingQuery{PolicyID: "p3"}, func(f seeded) bool { return f.v.PolicyID == "p3" }},
		{"a severity", store.FindingQuery{Severity: "low"}, func(f seeded) bool { return f.v.Severity == "low" }},
		{"open ones", store.FindingQuery{State: "open"}, func(f seeded) bool { return f.open }},
		{"resolved ones", store.FindingQuery{State: "resolved"}, func(f seeded) bool { return !f.open }},
		// Resolved findings live from at(i) to at(i+10) for i = 0, 4, ... 28.
		{"opened before a time, exclusive", store.FindingQuery{Time: store.TimeRange{To: at(20)}},
			func(f seeded) bool { return f.opened.Before(at(20)) }},
		{"alive from a time, resolved at it included", store.FindingQuery{Time: store.TimeRange{From: at(14)}},
			func(f seeded) bool { return f.open || !f.resolved.Before(at(14)) }},
		{"alive during a time range", store.FindingQuery{Time: store.TimeRange{From: at(14), To: at(20)}},
			func(f seeded) bool { return f.opened.Before(at(20)) && (f.open || !f.resolved.Before(at(14))) }},
		{"resolved ones alive during a time range", store.FindingQuery{State: "resolved", Time: store.TimeRange{From: at(14), To: at(20)}},
			func(f seeded) bool { return !f.open && f.opened.Before(at(20)) && !f.resolved.Before(at(14)) }},
		{"everything at once", store.FindingQuery{Cluster: "east", Namespace: "default", Kind: "Pod", PolicyID: "p1", Severity: "high", State: "resolved"},
			func(f seeded) bool {
				return f.obj.Cluster == "east" && f.obj.Namespace == "default" && f.obj.Kind == "Pod" && f.v.PolicyID == "p1" && !f.open
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, f := range all {
				if tc.keep(f) {
					want = append(want, f.obj.UID+" "+f.v.PolicyID)
				}
			}
			slices.Sort(want)
			for _, limit := range []int{0, 1, 7} {
				q := tc.q
				q.Limit = limit
				fs := allFindings(t, s, q)
				if !slices.IsSortedFunc(fs, func(a, b store.Finding) int { return a.FirstSeen.Compare(b.FirstSeen) }) {
					t.Errorf("limit %d: findings not oldest first", limit)
				}
				var got []string
				for _, f := range fs {
					got = append(got, f.UID+" "+f.PolicyID)
				}
				slices.Sort(got)
				equalIDs(t, fmt.Sprintf("limit %d", limit), got, want)
			}
		})
	}

	for _, q := range []store.FindingQuery{{State: "closed"}, {Cursor: "not a cursor"}, {Limit: -1}} {
		if _, err := s.Findings(context.Background(), q); err == nil {
			t.Errorf("Findings(%+v) succeeded", q)
		}
	}
	if page, err := s.Findings(context.Background(), store.FindingQuery{Limit: 5000}); err != nil || len(page.Findings) != len(all) {
		t.Errorf("a limit above the maximum: %d findings, err %v", len(page.Findings), err)
	}
}
