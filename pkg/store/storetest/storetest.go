// Package storetest is the conformance suite of store.Store: every
// implementation passes the same tests, so SQLite and PostgreSQL behave alike.
//
//	func TestSQLite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { … an empty store, closed when t ends … })
//	}
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

// Run runs the suite. open returns a new, empty store for one test and
// closes it when that test ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("AppendEvents", func(t *testing.T) { testAppendEvents(t, open) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open) })
	t.Run("ChainHead", func(t *testing.T) { testChainHead(t, open) })
	t.Run("RecordedHead", func(t *testing.T) { testRecordedHead(t, open) })
	t.Run("Clusters", func(t *testing.T) { testClusters(t, open) })
	t.Run("OpenFindingsByPolicy", func(t *testing.T) { testOpenFindingsByPolicy(t, open) })
	t.Run("SyncFindings", func(t *testing.T) { testSyncFindings(t, open) })
	t.Run("ForgetObject", func(t *testing.T) { testForgetObject(t, open) })
	t.Run("RecordAudit", func(t *testing.T) { testRecordAudit(t, open) })
	t.Run("Findings", func(t *testing.T) { testFindings(t, open) })
	t.Run("Reports", func(t *testing.T) { testReports(t, open) })
	t.Run("Scans", func(t *testing.T) { testScans(t, open) })
	t.Run("Credentials", func(t *testing.T) { testCredentials(t, open) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelledContext(t, open) })
}

// Hash is the suite's store.HashFunc: the SHA-256 of the event's JSON
// without its hash. It stands in for trail.Hash, which the store must not
// depend on.
func Hash(e store.Event) (string, error) {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// t0 has nanoseconds and a zone that the store must normalise away.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))

// at is t0 plus n minutes.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// stored is a time as the store keeps it: UTC, microseconds.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// event is an allowed admission of a pod, changed by mods.
func event(cluster, id string, mods ...func(*store.Event)) store.Event {
	e := store.Event{
		ID: id, Cluster: cluster, Time: t0, Source: "admission",
		User: "alice", Operation: "CREATE", APIVersion: "v1", Kind: "Pod",
		Namespace: "default", Name: "pod-" + id, UID: "uid-" + id, Decision: "allowed",
	}
	for _, m := range mods {
		m(&e)
	}
	return e
}

// events are events of one cluster with the given IDs, a minute apart.
func events(cluster string, ids ...string) []store.Event {
	evs := make([]store.Event, len(ids))
	for i, id := range ids {
		evs[i] = event(cluster, id, func(e *store.Event) { e.Time = at(i) })
	}
	return evs
}

// idRange is the IDs prefix-from … prefix-(to-1).
func idRange(prefix string, from, to int) []string {
	var ids []string
	for i := from; i < to; i++ {
		ids = append(ids, fmt.Sprintf("%s-%04d", prefix, i))
	}
	return ids
}

func appendOK(t *testing.T, s store.Store, cluster string, evs []store.Event) store.AppendResult {
	t.Helper()
	res, err := s.AppendEvents(context.Background(), cluster, evs, Hash)
	if err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	return res
}

// allEvents walks every page of q (with q.Limit as the page size) and fails
// the test if a page repeats an event.
func allEvents(t *testing.T, s store.Store, q store.EventQuery) []store.Event {
	t.Helper()
	var all []store.Event
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("more than 10000 pages: the cursor does not advance")
		}
		page, err := s.Events(context.Background(), q)
		if err != nil {
			t.Fatalf("Events(%+v): %v", q, err)
		}
		limit := q.Limit
		if limit == 0 {
			limit = 100
		}
		if len(page.Events) > limit {
			t.Fatalf("a page of %d events, more than the limit %d", len(page.Events), limit)
		}
		if page.Next != "" && len(page.Events) < limit {
			t.Fatalf("a short page (%d events, limit %d) with a next cursor", len(page.Events), limit)
		}
		for _, e := range page.Events {
			key := fmt.Sprintf("%s/%d", e.Cluster, e.Seq)
			if seen[key] {
				t.Fatalf("event %s (%s) returned twice", key, e.ID)
			}
			seen[key] = true
		}
		all = append(all, page.Events...)
		if page.Next == "" {
			return all
		}
		q.Cursor = page.Next
	}
}

// checkChain fails the test unless evs are a whole chain from Seq 1, each
// linked to the one before and hashed as Hash does.
func checkChain(t *testing.T, evs []store.Event) {
	t.Helper()
	prev := ""
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d (%s) has Seq %d", i, e.ID, e.Seq)
		}
		if e.PrevHash != prev {
			t.Fatalf("event %d (%s): PrevHash %q, the previous hash is %q", e.Seq, e.ID, e.PrevHash, prev)
		}
		h, _ := Hash(e)
		if e.Hash != h {
			t.Fatalf("event %d (%s): stored hash %s, recomputed %s", e.Seq, e.ID, e.Hash, h)
		}
		prev = e.Hash
	}
}

func eventIDs(evs []store.Event) []string {
	ids := []string{}
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

func equalIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}
