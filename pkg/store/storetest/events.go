package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bailiff/bailiff/pkg/store"
)

func testAppendEvents(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("numbers and links events across batches", func(t *testing.T) {
		s := open(t)
		if res := appendOK(t, s, "east", events("east", "a", "b", "c")); res != (store.AppendResult{Stored: 3, LastSeq: 3}) {
			t.Errorf("first batch: %+v", res)
		}
		if res := appendOK(t, s, "east", events("east", "d", "e")); res != (store.AppendResult{Stored: 2, LastSeq: 5}) {
			t.Errorf("second batch: %+v", res)
		}
		all := allEvents(t, s, store.EventQuery{Cluster: "east"})
		equalIDs(t, "chain", eventIDs(all), []string{"a", "b", "c", "d", "e"})
		checkChain(t, all)
	})

	for _, tc := range []struct {
		name    string
		batches [][]store.Event
		want    []store.AppendResult
		chain   []string
	}{
		{
			name:    "stores a batch delivered twice once",
			batches: [][]store.Event{events("east", "a", "b", "c"), events("east", "a", "b", "c")},
			want:    []store.AppendResult{{Stored: 3, LastSeq: 3}, {Duplicates: 3, LastSeq: 3}},
			chain:   []string{"a", "b", "c"},
		},
		{
			name:    "stores only the new events of an overlapping batch",
			batches: [][]store.Event{events("east", "a", "b", "c"), events("east", "b", "c", "d")},
			want:    []store.AppendResult{{Stored: 3, LastSeq: 3}, {Stored: 1, Duplicates: 2, LastSeq: 4}},
			chain:   []string{"a", "b", "c", "d"},
		},
		{
			name:    "stores an event repeated within a batch once",
			batches: [][]store.Event{events("east", "a", "b", "a", "c", "b")},
			want:    []store.AppendResult{{Stored: 3, Duplicates: 2, LastSeq: 3}},
			chain:   []string{"a", "b", "c"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			for i, b := range tc.batches {
				if res := appendOK(t, s, "east", b); res != tc.want[i] {
					t.Errorf("batch %d: %+v, want %+v", i, res, tc.want[i])
				}
			}
			all := allEvents(t, s, store.EventQuery{Cluster: "east"})
			equalIDs(t, "chain", eventIDs(all), tc.chain)
			checkChain(t, all)
		})
	}

	t.Run("keeps the first version of a duplicate", func(t *testing.T) {
		s := open(t)
		appendOK(t, s, "east", events("east", "a"))
		again := event("east", "a", func(e *store.Event) { e.Decision = "denied" })
		appendOK(t, s, "east", []store.Event{again})
		head, err := s.ChainHead(context.Background(), "east")
		if err != nil {
			t.Fatal(err)
		}
		if head.Decision != "allowed" {
			t.Errorf("the duplicate replaced the stored event: decision %q", head.Decision)
		}
	})

	t.Run("stores nothing of a batch whose hashing fails", func(t *testing.T) {
		s := open(t)
		appendOK(t, s, "east", events("east", "a"))
		errBoom := errors.New("boom")
		failOnC := func(e store.Event) (string, error) {
			if e.ID == "c" {
				return "", errBoom
			}
			return Hash(e)
		}
		_, err := s.AppendEvents(context.Background(), "east", events("east", "b", "c", "d"), failOnC)
		if !errors.Is(err, errBoom) {
			t.Fatalf("AppendEvents with a failing hash: %v, want an error wrapping %v", err, errBoom)
		}
		equalIDs(t, "after the failed batch", eventIDs(allEvents(t, s, store.EventQuery{Cluster: "east"})), []string{"a"})

		if res := appendOK(t, s, "east", events("east", "b", "c", "d")); res != (store.AppendResult{Stored: 3, LastSeq: 4}) {
			t.Errorf("retried batch: %+v", res)
		}
		checkChain(t, allEvents(t, s, store.EventQuery{Cluster: "east"}))
	})

	for _, tc := range []struct {
		name    string
		cluster string
		batch   []store.Event
		hash    store.HashFunc
	}{
		{"rejects an event of another cluster", "east", []store.Event{event("east", "a"), event("west", "b")}, Hash},
		{"rejects an event with no cluster", "east", []store.Event{event("", "a")}, Hash},
		{"rejects an event with no ID", "east", []store.Event{event("east", "a"), event("east", "")}, Hash},
		{"rejects a batch for no cluster", "", []store.Event{event("", "a")}, Hash},
		{"rejects a batch without a hash function", "east", []store.Event{event("east", "a")}, nil},
		{"rejects an empty hash", "east", []store.Event{event("east", "a")}, func(store.Event) (string, error) { return "", nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if _, err := s.AppendEvents(context.Background(), tc.cluster, tc.batch, tc.hash); err == nil {
				t.Fatal("AppendEvents accepted the batch")
			}
			if page, err := s.Events(context.Background(), store.EventQuery{}); err != nil || len(page.Events) != 0 {
				t.Errorf("after a rejected batch: %d events stored, err %v", len(page.Events), err)
			}
		})
	}

	t.Run("reports the chain head for an empty batch", func(t *testing.T) {
		s := open(t)
		if res := appendOK(t, s, "east", nil); res != (store.AppendResult{}) {
			t.Errorf("empty batch on an empty chain: %+v", res)
		}
		appendOK(t, s, "east", events("east", "a", "b"))
		if res := appendOK(t, s, "east", []store.Event{}); res != (store.AppendResult{LastSeq: 2}) {
			t.Errorf("empty batch: %+v", res)
		}
	})

	t.Run("keeps the chains of two clusters apart", func(t *testing.T) {
		s := open(t)
		appendOK(t, s, "east", events("east", "a", "b"))
		appendOK(t, s, "west", events("west", "a", "x", "y")) // the same ID in another cluster is no duplicate
		appendOK(t, s, "east", events("east", "c"))
		if res := appendOK(t, s, "west", events("west", "z")); res != (store.AppendResult{Stored: 1, LastSeq: 4}) {
			t.Errorf("west's second batch: %+v", res)
		}
		east := allEvents(t, s, store.EventQuery{Cluster: "east"})
		west := allEvents(t, s, store.EventQuery{Cluster: "west"})
		equalIDs(t, "east", eventIDs(east), []string{"a", "b", "c"})
		equalIDs(t, "west", eventIDs(west), []string{"a", "x", "y", "z"})
		checkChain(t, east)
		checkChain(t, west)
	})

	t.Run("forms one gap-free chain from concurrent appends", func(t *testing.T) {
		s := open(t)
		const writers, batches, size = 8, 10, 20
		var wg sync.WaitGroup
		results := make([][]store.AppendResult, writers)
		errs := make([]error, writers)
		for w := range writers {
			wg.Go(func() {
				var last []store.Event
				for b := range batches {
					batch := events("east", idRange(fmt.Sprintf("w%d-b%d", w, b), 0, size)...)
					// Each writer also redelivers its previous batch, racing the others.
					for _, evs := range [][]store.Event{batch, last} {
						res, err := s.AppendEvents(context.Background(), "east", evs, Hash)
						if err != nil {
							errs[w] = err
							return
						}
						results[w] = append(results[w], res)
					}
					last = batch
				}
			})
		}
		wg.Wait()
		stored, dups := 0, 0
		for w := range writers {
			if errs[w] != nil {
				t.Fatalf("writer %d: %v", w, errs[w])
			}
			for _, r := range results[w] {
				stored += r.Stored
				dups += r.Duplicates
			}
		}
		want := writers * batches * size
		if stored != want || dups != writers*(batches-1)*size {
			t.Errorf("stored %d, duplicates %d; want %d and %d", stored, dups, want, writers*(batches-1)*size)
		}
		all := allEvents(t, s, store.EventQuery{Cluster: "east", Limit: 1000})
		if len(all) != want {
			t.Fatalf("%d events in the chain, want %d", len(all), want)
		}
		checkChain(t, all)
	})

	t.Run("stores events exactly as given", func(t *testing.T) {
		s := open(t)
		full := store.Event{
			ID: "full", Cluster: "east", Time: t0, Source: "admission",
			User: "system:serviceaccount:ci:deployer", Groups: []string{"system:serviceaccounts", "ci"},
			Operation: "UPDATE", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "prod", Name: "web",
			UID: "0b6f", Decision: "denied", DryRun: true,
			Violations: []store.Violation{
				{PolicyID: "no-latest", Severity: "high", Enforcement: "deny", Message: "image uses :latest", Field: "spec.template.spec.containers[0].image"},
				{PolicyID: "limits", Message: "no memory limit"},
			},
			Patch:            json.RawMessage(`[ {"op": "add",  "path": "/metadata/labels/x", "value": "ü\u00e9"} ]`),
			PolicySetVersion: "sha256:abc",
			Details:          json.RawMessage("{\n  \"b\": 1,\n  \"a\": [true, null]\n}"),
		}
		bare := store.Event{ID: "bare", Cluster: "east", Time: t0.Add(999), Source: "config", Decision: "loaded",
			Groups: []string{}, Violations: []store.Violation{}, Patch: json.RawMessage{}, Details: json.RawMessage{}}
		null := store.Event{ID: "null", Cluster: "east", Time: t0, Source: "audit", Decision: "opened", Patch: json.RawMessage("null")}
		in := []store.Event{full, bare, null}
		inCopy := slices.Clone(in)
		appendOK(t, s, "east", in)
		if !reflect.DeepEqual(in, inCopy) {
			t.Error("AppendEvents changed the caller's events")
		}

		// Stored: times in UTC to the microsecond, empty lists and documents
		// as nil, raw JSON byte for byte.
		want := []store.Event{full, bare, null}
		want[0].Time = stored(full.Time)
		want[1].Time = stored(bare.Time)
		want[1].Groups, want[1].Violations, want[1].Patch, want[1].Details = nil, nil, nil, nil
		want[2].Time = stored(null.Time)
		got := allEvents(t, s, store.EventQuery{Cluster: "east"})
		if len(got) != len(want) {
			t.Fatalf("%d events stored, want %d", len(got), len(want))
		}
		checkChain(t, got)
		for i := range want {
			want[i].Seq, want[i].PrevHash, want[i].Hash = got[i].Seq, got[i].PrevHash, got[i].Hash
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("event %s read back as\n%#v\nwant\n%#v", want[i].ID, got[i], want[i])
			}
		}
	})
}

func testChainHead(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	if _, err := s.ChainHead(context.Background(), "east"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ChainHead of a cluster with no events: %v, want ErrNotFound", err)
	}
	appendOK(t, s, "east", events("east", "a", "b"))
	appendOK(t, s, "west", events("west", "x"))
	head, err := s.ChainHead(context.Background(), "east")
	if err != nil {
		t.Fatal(err)
	}
	all := allEvents(t, s, store.EventQuery{Cluster: "east"})
	if !reflect.DeepEqual(head, all[len(all)-1]) {
		t.Errorf("ChainHead %+v, want the last event %+v", head, all[len(all)-1])
	}
}

func testRecordedHead(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	t.Run("a cluster that never appended has none", func(t *testing.T) {
		s := open(t)
		appendOK(t, s, "west", events("west", "x"))
		if seq, hash, err := s.RecordedHead(ctx, "east"); !errors.Is(err, store.ErrNotFound) || seq != 0 || hash != "" {
			t.Errorf("RecordedHead of a cluster with no events: %d, %q, %v; want 0, \"\", ErrNotFound", seq, hash, err)
		}
	})

	for _, tc := range []struct {
		name    string
		batches [][]store.Event
		want    int64
	}{
		{"is the last event appended", [][]store.Event{events("east", "a", "b", "c")}, 3},
		{"moves with every append", [][]store.Event{events("east", "a"), events("east", "b", "c", "d")}, 4},
		{"stays put for a batch of duplicates", [][]store.Event{events("east", "a", "b"), events("east", "a", "b")}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			for _, b := range tc.batches {
				appendOK(t, s, "east", b)
			}
			appendOK(t, s, "west", events("west", "x", "y", "z", "w", "v"))
			seq, hash, err := s.RecordedHead(ctx, "east")
			if err != nil {
				t.Fatal(err)
			}
			last, err := s.ChainHead(ctx, "east")
			if err != nil {
				t.Fatal(err)
			}
			if seq != tc.want || last.Seq != tc.want || hash != last.Hash {
				t.Errorf("RecordedHead = %d, %s; want %d and the last event's hash %s", seq, hash, tc.want, last.Hash)
			}
		})
	}

	t.Run("follows RecordAudit's appends", func(t *testing.T) {
		s := open(t)
		appendOK(t, s, "east", events("east", "a"))
		batch := store.AuditBatch{
			Cluster: "east",
			Results: []store.ObjectResult{{Object: web, EvaluatedAt: at(1), Violations: []store.Violation{violation("limits", "no memory limit")}}},
			Events:  func(int, store.FindingChanges) []store.Event { return events("east", "opened") },
		}
		if _, err := s.RecordAudit(ctx, batch, Hash); err != nil {
			t.Fatal(err)
		}
		seq, hash, err := s.RecordedHead(ctx, "east")
		if err != nil {
			t.Fatal(err)
		}
		if last, err := s.ChainHead(ctx, "east"); err != nil || seq != 2 || hash != last.Hash {
			t.Errorf("RecordedHead = %d, %s; want 2 and %s (%v)", seq, hash, last.Hash, err)
		}
	})
}

// dataset is events of two clusters whose attributes vary with their
// index, and whose times are not in append order.
func dataset() []store.Event {
	var evs []store.Event
	for i := range 48 {
		cluster := []string{"east", "west"}[i%2]
		evs = append(evs, event(cluster, fmt.Sprintf("ev-%02d", i), func(e *store.Event) {
			e.Time = at((i * 7) % 48) // a permutation: time order is not chain order
			e.Namespace = []string{"default", "prod", "kube-system"}[i%3]
			e.Kind = []string{"Pod", "Deployment", "Service", "ConfigMap"}[i%4]
			e.User = []string{"alice", "bob", "carol"}[(i/2)%3]
			e.Source = []string{"admission", "audit"}[(i/3)%2]
			e.Decision = []string{"allowed", "denied", "warned"}[(i/4)%3]
			e.UID = fmt.Sprintf("obj-%d", i%6)
			switch i % 5 {
			case 0:
				e.Violations = []store.Violation{{PolicyID: "p1", Message: "one"}}
			case 1:
				e.Violations = []store.Violation{{PolicyID: "p1", Message: "one"}, {PolicyID: "p2", Message: "two"}}
			case 2: // the same policy twice: the event is still listed once
				e.Violations = []store.Violation{{PolicyID: "p2", Message: "a", Field: "x"}, {PolicyID: "p2", Message: "b", Field: "y"}}
			}
		}))
	}
	return evs
}

// seed appends the dataset, cluster by cluster in index order, and returns
// it with the Seq each event gets.
func seed(t *testing.T, s store.Store) []store.Event {
	t.Helper()
	evs := dataset()
	var east, west []store.Event
	for i := range evs {
		if evs[i].Cluster == "east" {
			east = append(east, evs[i])
			evs[i].Seq = int64(len(east))
		} else {
			west = append(west, evs[i])
			evs[i].Seq = int64(len(west))
		}
	}
	appendOK(t, s, "east", east)
	appendOK(t, s, "west", west)
	return evs
}

// expected selects the events keep accepts, in the order Events returns
// them: by Seq within a cluster, by time, cluster and Seq across clusters.
func expected(evs []store.Event, byChain bool, keep func(store.Event) bool) []string {
	var sel []store.Event
	for _, e := range evs {
		if keep(e) {
			sel = append(sel, e)
		}
	}
	slices.SortFunc(sel, func(a, b store.Event) int {
		if byChain {
			return int(a.Seq - b.Seq)
		}
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Cluster, b.Cluster); c != 0 {
			return c
		}
		return int(a.Seq - b.Seq)
	})
	return eventIDs(sel)
}

func names(e store.Event, policy string) bool {
	return slices.ContainsFunc(e.Violations, func(v store.Violation) bool { return v.PolicyID == policy })
}

func testEvents(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("filters", func(t *testing.T) {
		s := open(t)
		evs := seed(t, s)
		for _, tc := range []struct {
			name string
			q    store.EventQuery
			keep func(store.Event) bool
		}{
			{"everything, in time order", store.EventQuery{}, func(store.Event) bool { return true }},
			{"one cluster, in chain order", store.EventQuery{Cluster: "west"}, func(e store.Event) bool { return e.Cluster == "west" }},
			{"a namespace", store.EventQuery{Namespace: "prod"}, func(e store.Event) bool { return e.Namespace == "prod" }},
			{"a kind", store.EventQuery{Kind: "Deployment"}, func(e store.Event) bool { return e.Kind == "Deployment" }},
			{"a user", store.EventQuery{User: "bob"}, func(e store.Event) bool { return e.User == "bob" }},
			{"a source", store.EventQuery{Source: "audit"}, func(e store.Event) bool { return e.Source == "audit" }},
			{"a decision", store.EventQuery{Decision: "denied"}, func(e store.Event) bool { return e.Decision == "denied" }},
			{"an object", store.EventQuery{UID: "obj-2"}, func(e store.Event) bool { return e.UID == "obj-2" }},
			{"a policy", store.EventQuery{PolicyID: "p1"}, func(e store.Event) bool { return names(e, "p1") }},
			{"a policy named twice by one event", store.EventQuery{PolicyID: "p2"}, func(e store.Event) bool { return names(e, "p2") }},
			{"a policy nothing violates", store.EventQuery{PolicyID: "p9"}, func(store.Event) bool { return false }},
			{"from a time, inclusive", store.EventQuery{Time: store.TimeRange{From: at(40)}}, func(e store.Event) bool { return !e.Time.Before(at(40)) }},
			{"to a time, exclusive", store.EventQuery{Time: store.TimeRange{To: at(5)}}, func(e store.Event) bool { return e.Time.Before(at(5)) }},
			{"a time range", store.EventQuery{Time: store.TimeRange{From: at(10), To: at(20)}},
				func(e store.Event) bool { return !e.Time.Before(at(10)) && e.Time.Before(at(20)) }},
			{"from a Seq", store.EventQuery{Cluster: "east", FromSeq: 20}, func(e store.Event) bool { return e.Cluster == "east" && e.Seq >= 20 }},
			{"to a Seq", store.EventQuery{Cluster: "east", ToSeq: 3}, func(e store.Event) bool { return e.Cluster == "east" && e.Seq <= 3 }},
			{"one Seq", store.EventQuery{Cluster: "east", FromSeq: 7, ToSeq: 7}, func(e store.Event) bool { return e.Cluster == "east" && e.Seq == 7 }},
			{"everything at once", store.EventQuery{Cluster: "east", Namespace: "default", PolicyID: "p1", Time: store.TimeRange{From: at(3)}},
				func(e store.Event) bool {
					return e.Cluster == "east" && e.Namespace == "default" && names(e, "p1") && !e.Time.Before(at(3))
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := expected(evs, tc.q.Cluster != "", tc.keep)
				for _, limit := range []int{0, 1, 5} {
					q := tc.q
					q.Limit = limit
					equalIDs(t, fmt.Sprintf("limit %d", limit), eventIDs(allEvents(t, s, q)), want)
				}
			})
		}
	})

	t.Run("pages end exactly at the last event", func(t *testing.T) {
		s := open(t)
		appendOK(t, s, "east", events("east", idRange("e", 0, 10)...))
		page, err := s.Events(context.Background(), store.EventQuery{Cluster: "east", Limit: 5})
		if err != nil || len(page.Events) != 5 || page.Next == "" {
			t.Fatalf("first page: %d events, next %q, err %v", len(page.Events), page.Next, err)
		}
		page, err = s.Events(context.Background(), store.EventQuery{Cluster: "east", Limit: 5, Cursor: page.Next})
		if err != nil || len(page.Events) != 5 || page.Next != "" {
			t.Errorf("last page: %d events, next %q, err %v", len(page.Events), page.Next, err)
		}
	})

	t.Run("pages stay stable while events are appended", func(t *testing.T) {
		for _, q := range []store.EventQuery{{Cluster: "east", Limit: 4}, {Limit: 4}} {
			s := open(t)
			appendOK(t, s, "east", events("east", idRange("old", 0, 10)...))
			page, err := s.Events(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			later := events("east", idRange("new", 0, 6)...)
			for i := range later {
				later[i].Time = at(100 + i)
			}
			appendOK(t, s, "east", later)
			q.Cursor = page.Next
			rest := allEvents(t, s, q)
			got := append(eventIDs(page.Events), eventIDs(rest)...)
			equalIDs(t, fmt.Sprintf("cluster %q", q.Cluster), got, append(idRange("old", 0, 10), idRange("new", 0, 6)...))
		}
	})

	t.Run("page size", func(t *testing.T) {
		s := open(t)
		for b := range 3 {
			appendOK(t, s, "east", events("east", idRange(fmt.Sprintf("b%d", b), 0, 400)...))
		}
		for _, tc := range []struct{ limit, want int }{{0, 100}, {1, 1}, {1000, 1000}, {5000, 1000}} {
			page, err := s.Events(context.Background(), store.EventQuery{Cluster: "east", Limit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) != tc.want {
				t.Errorf("Limit %d: %d events, want %d", tc.limit, len(page.Events), tc.want)
			}
		}
	})

	for _, tc := range []struct {
		name string
		q    store.EventQuery
	}{
		{"rejects Seq bounds without a cluster", store.EventQuery{FromSeq: 1}},
		{"rejects a negative limit", store.EventQuery{Limit: -1}},
		{"rejects a cursor that is not one", store.EventQuery{Cursor: "not a cursor"}},
		{"rejects a cursor of another cluster", store.EventQuery{Cluster: "west", Cursor: "from east"}},
		{"rejects a chain-order cursor in time order", store.EventQuery{Cursor: "from east"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			appendOK(t, s, "east", events("east", "a", "b"))
			if tc.q.Cursor == "from east" {
				page, err := s.Events(context.Background(), store.EventQuery{Cluster: "east", Limit: 1})
				if err != nil {
					t.Fatal(err)
				}
				tc.q.Cursor = page.Next
			}
			if _, err := s.Events(context.Background(), tc.q); err == nil {
				t.Errorf("Events(%+v) succeeded", tc.q)
			}
		})
	}
}
