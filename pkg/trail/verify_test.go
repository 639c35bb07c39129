package trail

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // for tampering with the store's file behind its back

	"github.com/bailiff/bailiff/pkg/store"
)

// sqliteStore opens a new SQLite store and returns it with its file's path.
func sqliteStore(t *testing.T) (store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bailiff.db")
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// t0 is when the test events happen; event i of a chain happens i seconds later.
var t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// testEvent is a plausible admission event.
func testEvent(cluster string, i int, at time.Time) store.Event {
	e := store.Event{
		ID: fmt.Sprintf("%s-%05d", cluster, i), Cluster: cluster, Time: at, Source: SourceAdmission,
		User: "ci@example.com", Operation: "CREATE", APIVersion: "v1", Kind: "Pod",
		Namespace: "shop", Name: fmt.Sprintf("pod-%d", i), Decision: "allowed",
	}
	if i%3 == 0 {
		e.Decision = "denied"
		e.Violations = []store.Violation{{PolicyID: "BLF-PSS-007", Severity: "high", Message: "privileged"}}
		e.Details = []byte(`{"z": 1, "a": [true, null]}`)
	}
	return e
}

// appendChain appends events 1..n of a cluster, event i at t0+i seconds, in batches.
func appendChain(t *testing.T, s store.Store, cluster string, n int) {
	t.Helper()
	var batch []store.Event
	for i := 1; i <= n; i++ {
		batch = append(batch, testEvent(cluster, i, t0.Add(time.Duration(i)*time.Second)))
		if len(batch) == 500 || i == n {
			if _, err := s.AppendEvents(context.Background(), cluster, batch, Hash); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
}

// tamper changes one row of the store's file directly, as an attacker with
// database access would.
func tamper(t *testing.T, path, statement string, args ...any) {
	t.Helper()
	tamperRows(t, path, 1, statement, args...)
}

// tamperRows is tamper for a statement that changes rows rows.
func tamperRows(t *testing.T, path string, rows int64, statement string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(statement, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != rows {
		t.Fatalf("%s changed %d rows, want %d", statement, n, rows)
	}
}

// deleteEvents deletes events from..to (inclusive) of cluster prod.
func deleteEvents(from, to int64) func(t *testing.T, s store.Store, path string) {
	return func(t *testing.T, _ store.Store, path string) {
		t.Helper()
		tamperRows(t, path, to-from+1, "DELETE FROM events WHERE cluster = 'prod' AND seq BETWEEN ? AND ?", from, to)
	}
}

// eventAt reads one stored event.
func eventAt(t *testing.T, s store.Store, cluster string, seq int64) store.Event {
	t.Helper()
	page, err := s.Events(context.Background(), store.EventQuery{Cluster: cluster, FromSeq: seq, ToSeq: seq})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("event %d: %v, %d events", seq, err, len(page.Events))
	}
	return page.Events[0]
}

func TestVerify(t *testing.T) {
	const n = 2500 // more than two pages
	tests := []struct {
		name string
		// damage changes the store before verifying; nil leaves it intact.
		damage func(t *testing.T, s store.Store, path string)
		r      Range
		// want is the verified count and first/last seq of an intact range, or
		// the broken seq and the start of the reason.
		count, first, last int64
		brokenSeq          int64
		reason             string
		// gone says the broken seq's event is missing, so the break names no ID.
		gone bool
	}{
		{name: "an intact chain verifies from end to end", count: n, first: 1, last: n},
		{
			name: "an altered event is a hash mismatch at that event",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE events SET decision = 'allowed' WHERE cluster = 'prod' AND seq = 1200")
			},
			brokenSeq: 1200, reason: "hash mismatch: stored sha256:", count: 1199, first: 1, last: 1199,
		},
		{
			name: "altered details are a hash mismatch",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE events SET details = CAST('{\"z\":2,\"a\":[true,null]}' AS BLOB) WHERE cluster = 'prod' AND seq = 3")
			},
			brokenSeq: 3, reason: "hash mismatch", count: 2, first: 1, last: 2,
		},
		{
			name: "an altered event whose hash was recomputed breaks the next event's link",
			damage: func(t *testing.T, s store.Store, path string) {
				e := eventAt(t, s, "prod", 1200)
				e.Decision = "allowed"
				h, err := Hash(e)
				if err != nil {
					t.Fatal(err)
				}
				tamper(t, path, "UPDATE events SET decision = 'allowed', hash = ? WHERE cluster = 'prod' AND seq = 1200", h)
			},
			brokenSeq: 1201, reason: "prev_hash does not match event 1200's hash", count: 1200, first: 1, last: 1200,
		},
		{
			name: "a deleted event is a sequence gap",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "DELETE FROM events WHERE cluster = 'prod' AND seq = 1501")
			},
			brokenSeq: 1502, reason: "sequence gap: 1500 followed by 1502", count: 1500, first: 1, last: 1500,
		},
		{
			name: "a deleted first event is a sequence gap at the start",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "DELETE FROM events WHERE cluster = 'prod' AND seq = 1")
			},
			brokenSeq: 2, reason: "sequence gap: event 1, the one before 2, is missing",
		},
		{
			name: "a bad prev_hash is named as such",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE events SET prev_hash = 'sha256:00' WHERE cluster = 'prod' AND seq = 700")
			},
			brokenSeq: 700, reason: "prev_hash does not match event 699's hash", count: 699, first: 1, last: 699,
		},
		{
			name: "a first event with a prev_hash is broken",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE events SET prev_hash = 'sha256:00' WHERE cluster = 'prod' AND seq = 1")
			},
			brokenSeq: 1, reason: `prev_hash of the first event is "sha256:00"`,
		},
		{name: "a range in the middle verifies", r: Range{FromSeq: 1001, ToSeq: 2000}, count: 1000, first: 1001, last: 2000},
		{
			name: "a range in the middle links its first event to the one before",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE events SET prev_hash = 'sha256:00' WHERE cluster = 'prod' AND seq = 1001")
			},
			r:         Range{FromSeq: 1001, ToSeq: 2000},
			brokenSeq: 1001, reason: "prev_hash does not match event 1000's hash",
		},
		{
			name: "a range whose preceding event was deleted is a gap",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "DELETE FROM events WHERE cluster = 'prod' AND seq = 1000")
			},
			r:         Range{FromSeq: 1001},
			brokenSeq: 1001, reason: "sequence gap: event 1000, the one before 1001, is missing",
		},
		{
			name: "damage outside the range is not seen",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE events SET decision = 'allowed' WHERE cluster = 'prod' AND seq = 30")
			},
			r:     Range{FromSeq: 100, ToSeq: 200},
			count: 101, first: 100, last: 200,
		},
		{
			name:  "a time range covers the events in it",
			r:     Range{From: t0.Add(100 * time.Second), To: t0.Add(200 * time.Second)},
			count: 100, first: 100, last: 199,
		},
		{
			name: "a time range starting mid-chain verifies its first event's link",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE events SET hash = 'sha256:00' WHERE cluster = 'prod' AND seq = 99")
			},
			r:         Range{From: t0.Add(100 * time.Second), To: t0.Add(200 * time.Second)},
			brokenSeq: 100, reason: "prev_hash does not match event 99's hash",
		},
		{name: "a range with no events is intact", r: Range{FromSeq: n + 1}},
		{name: "a seq range open at the end verifies up to the head", r: Range{FromSeq: 2400}, count: 101, first: 2400, last: n},
		{name: "a time range open at the end verifies up to the head", r: Range{From: t0.Add(2400 * time.Second)}, count: 101, first: 2400, last: n},
		{name: "a seq range reaching past the head verifies up to it", r: Range{FromSeq: 2400, ToSeq: n + 100}, count: 101, first: 2400, last: n},
		{name: "a time range after the last event is intact and empty", r: Range{From: t0.Add((n + 10) * time.Second)}},
		{name: "a bounded time range with no events is intact", r: Range{From: t0.Add((n + 10) * time.Second), To: t0.Add((n + 20) * time.Second)}},
		{
			name:      "events deleted from the chain's end are missing from the first of them",
			damage:    deleteEvents(n-2, n),
			brokenSeq: n - 2, reason: "event 2498 is missing: the chain's recorded head is at seq 2500", gone: true,
			count: n - 3, first: 1, last: n - 3,
		},
		{
			name:      "a deleted last event is missing",
			damage:    deleteEvents(n, n),
			brokenSeq: n, reason: "event 2500 is missing: the chain's recorded head is at seq 2500", gone: true,
			count: n - 1, first: 1, last: n - 1,
		},
		{
			name:      "a seq range open at the end sees events deleted from the chain's end",
			damage:    deleteEvents(n-1, n),
			r:         Range{FromSeq: 2000},
			brokenSeq: n - 1, reason: "event 2499 is missing", gone: true, count: 499, first: 2000, last: n - 2,
		},
		{
			name:      "a seq range reaching past the head sees events deleted from the chain's end",
			damage:    deleteEvents(n, n),
			r:         Range{FromSeq: 2400, ToSeq: n + 100},
			brokenSeq: n, reason: "event 2500 is missing", gone: true, count: 100, first: 2400, last: n - 1,
		},
		{
			name:      "a time range open at the end sees events deleted from the chain's end",
			damage:    deleteEvents(n-2, n),
			r:         Range{From: t0.Add(2400 * time.Second)},
			brokenSeq: n - 2, reason: "event 2498 is missing", gone: true, count: 98, first: 2400, last: n - 3,
		},
		{
			name:      "a seq range whose last event was deleted is broken at it",
			damage:    deleteEvents(19, 19),
			r:         Range{FromSeq: 10, ToSeq: 19},
			brokenSeq: 19, reason: "event 19 is missing: the chain's recorded head is at seq 2500", gone: true, count: 9, first: 10, last: 18,
		},
		{
			name:   "an event deleted just after a seq range is not the range's business",
			damage: deleteEvents(19, 19),
			r:      Range{FromSeq: 10, ToSeq: 18},
			count:  9, first: 10, last: 18,
		},
		{
			name:      "a time range whose last event was deleted is broken at it",
			damage:    deleteEvents(19, 19),
			r:         Range{From: t0.Add(10 * time.Second), To: t0.Add(20 * time.Second)},
			brokenSeq: 19, reason: "event 19 is missing", gone: true, count: 9, first: 10, last: 18,
		},
		{
			name: "a time range checks the link to the event after it",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE events SET prev_hash = 'sha256:00' WHERE cluster = 'prod' AND seq = 20")
			},
			r:         Range{From: t0.Add(10 * time.Second), To: t0.Add(20 * time.Second)},
			brokenSeq: 20, reason: "prev_hash does not match event 19's hash", count: 10, first: 10, last: 19,
		},
		{
			name:      "a seq range whose events were all deleted is missing its first",
			damage:    deleteEvents(100, 110),
			r:         Range{FromSeq: 100, ToSeq: 110},
			brokenSeq: 100, reason: "event 100 is missing: the chain's recorded head is at seq 2500", gone: true,
		},
		{
			name:      "a seq range open at the end whose events were all deleted is missing its first",
			damage:    deleteEvents(2400, n),
			r:         Range{FromSeq: 2400},
			brokenSeq: 2400, reason: "event 2400 is missing", gone: true,
		},
		{
			name:      "a chain whose events were all deleted is missing its first",
			damage:    deleteEvents(1, n),
			brokenSeq: 1, reason: "event 1 is missing: the chain's recorded head is at seq 2500", gone: true,
		},
		{
			name:      "a time range open at the end whose events were all deleted misses the head",
			damage:    deleteEvents(2490, n),
			r:         Range{From: t0.Add(2490 * time.Second)},
			brokenSeq: n, reason: "event 2500 is missing", gone: true,
		},
		{
			name: "a recorded head with another hash breaks the event at it",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE chain_heads SET hash = 'sha256:00' WHERE cluster = 'prod'")
			},
			brokenSeq: n, reason: "the chain's recorded head at seq 2500 has hash sha256:00, not the event's sha256:", count: n - 1, first: 1, last: n - 1,
		},
		{
			name: "a last event altered with its hash recomputed disagrees with the recorded head",
			damage: func(t *testing.T, s store.Store, path string) {
				e := eventAt(t, s, "prod", n)
				e.Decision = "denied"
				h, err := Hash(e)
				if err != nil {
					t.Fatal(err)
				}
				tamper(t, path, "UPDATE events SET decision = 'denied', hash = ? WHERE cluster = 'prod' AND seq = ?", h, n)
			},
			brokenSeq: n, reason: "the chain's recorded head at seq 2500 has hash", count: n - 1, first: 1, last: n - 1,
		},
		{
			name: "an event beyond the recorded head breaks the chain",
			damage: func(t *testing.T, s store.Store, path string) {
				tamper(t, path, "UPDATE chain_heads SET seq = 2000, hash = ? WHERE cluster = 'prod'", eventAt(t, s, "prod", 2000).Hash)
			},
			brokenSeq: 2001, reason: "event 2001 is beyond the chain's recorded head at seq 2000", count: 2000, first: 1, last: 2000,
		},
		{
			name: "a time range open at the end whose events were all deleted misses the recorded head's hash",
			damage: func(t *testing.T, _ store.Store, path string) {
				tamper(t, path, "UPDATE chain_heads SET hash = 'sha256:00' WHERE cluster = 'prod'")
			},
			r:         Range{From: t0.Add((n + 10) * time.Second)},
			brokenSeq: n, reason: "the chain's recorded head at seq 2500 has hash sha256:00",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := sqliteStore(t)
			appendChain(t, s, "prod", n)
			appendChain(t, s, "staging", 10) // another chain, never disturbed
			if tt.damage != nil {
				tt.damage(t, s, path)
			}
			got, err := Verify(context.Background(), s, "prod", tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if tt.reason == "" {
				if !got.OK || got.Broken != nil {
					t.Fatalf("got %v, want intact", got)
				}
			} else {
				if got.OK || got.Broken == nil || got.Broken.Seq != tt.brokenSeq || !strings.HasPrefix(got.Broken.Reason, tt.reason) {
					t.Fatalf("got %v, want broken at %d: %s", got, tt.brokenSeq, tt.reason)
				}
				want := fmt.Sprintf("prod-%05d", tt.brokenSeq)
				if tt.gone {
					want = ""
				}
				if got.Broken.ID != want {
					t.Errorf("broken event ID: got %s, want %s", got.Broken.ID, want)
				}
			}
			if got.Count != tt.count || got.FirstSeq != tt.first || got.LastSeq != tt.last {
				t.Errorf("verified %d events, seq %d..%d; want %d, %d..%d", got.Count, got.FirstSeq, got.LastSeq, tt.count, tt.first, tt.last)
			}
			if got.Count > 0 && got.LastHash != eventAt(t, s, "prod", got.LastSeq).Hash {
				t.Errorf("last hash %s is not event %d's", got.LastHash, got.LastSeq)
			}
			if other, err := Verify(context.Background(), s, "staging", Range{}); err != nil || !other.OK || other.Count != 10 {
				t.Errorf("the other cluster's chain: %v, %v", other, err)
			}
		})
	}
}

// Several webhook replicas deliver independently, so event times do not grow
// with Seq. A time range must still cover every chain position between its
// first and last event, or a deletion there would go unseen.
func TestVerifyATimeRangeCoversEventsDeliveredOutOfTimeOrder(t *testing.T) {
	// Seq:  1    2    3    4    5    6
	// time: 10s  11s  50s  12s  13s  14s  (event 3 came from a replica with a late clock)
	seconds := []int{10, 11, 50, 12, 13, 14}
	var events []store.Event
	for i, sec := range seconds {
		events = append(events, testEvent("prod", i+1, t0.Add(time.Duration(sec)*time.Second)))
	}
	inRange := Range{From: t0.Add(11 * time.Second), To: t0.Add(14 * time.Second)} // seq 2, 4, 5

	t.Run("the out-of-range event in between is verified too", func(t *testing.T) {
		s, _ := sqliteStore(t)
		if _, err := s.AppendEvents(context.Background(), "prod", events, Hash); err != nil {
			t.Fatal(err)
		}
		got, err := Verify(context.Background(), s, "prod", inRange)
		if err != nil || !got.OK || got.Count != 4 || got.FirstSeq != 2 || got.LastSeq != 5 {
			t.Fatalf("got %v, %v; want seq 2..5 intact", got, err)
		}
	})
	t.Run("a range open at the end reaches the head through events with earlier times", func(t *testing.T) {
		s, _ := sqliteStore(t)
		if _, err := s.AppendEvents(context.Background(), "prod", events, Hash); err != nil {
			t.Fatal(err)
		}
		got, err := Verify(context.Background(), s, "prod", Range{From: t0.Add(50 * time.Second)}) // seq 3 only
		if err != nil || !got.OK || got.Count != 4 || got.FirstSeq != 3 || got.LastSeq != 6 {
			t.Fatalf("got %v, %v; want seq 3..6 intact", got, err)
		}
	})
	t.Run("a range open at the end sees the head's deletion behind an event with a later time", func(t *testing.T) {
		s, path := sqliteStore(t)
		if _, err := s.AppendEvents(context.Background(), "prod", events, Hash); err != nil {
			t.Fatal(err)
		}
		tamper(t, path, "DELETE FROM events WHERE cluster = 'prod' AND seq = 6")
		got, err := Verify(context.Background(), s, "prod", Range{From: t0.Add(50 * time.Second)})
		if err != nil || got.OK || got.Broken.Seq != 6 || got.Broken.Reason != "event 6 is missing: the chain's recorded head is at seq 6" || got.Count != 3 {
			t.Fatalf("got %v, %v; want event 6 missing after seq 3..5", got, err)
		}
	})
	t.Run("deleting the out-of-range event in between is seen", func(t *testing.T) {
		s, path := sqliteStore(t)
		if _, err := s.AppendEvents(context.Background(), "prod", events, Hash); err != nil {
			t.Fatal(err)
		}
		tamper(t, path, "DELETE FROM events WHERE cluster = 'prod' AND seq = 3")
		got, err := Verify(context.Background(), s, "prod", inRange)
		if err != nil || got.OK || got.Broken.Seq != 4 || got.Broken.Reason != "sequence gap: 2 followed by 4" {
			t.Fatalf("got %v, %v; want a gap before 4", got, err)
		}
	})
}

func TestVerifyOfAClusterWithoutATrailFindsNoEvents(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		r       Range
	}{
		{"a cluster of an empty store", "", Range{}},
		{"an unknown cluster", "prod", Range{}},
		{"a seq range of an unknown cluster", "prod", Range{FromSeq: 1, ToSeq: 10}},
		{"a time range of an unknown cluster", "prod", Range{From: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := sqliteStore(t)
			if tt.cluster != "" {
				appendChain(t, s, "staging", 10)
			}
			got, err := Verify(context.Background(), s, "prod", tt.r)
			if err != nil || !got.OK || got.Count != 0 || got.String() != "cluster prod: intact, no events in range" {
				t.Fatalf("got %v, %v; want intact with no events", got, err)
			}
		})
	}
}

// appendingStore appends events to the chain once, during the first Events
// call, before or after reading, as another replica appending while a
// verification runs would.
type appendingStore struct {
	store.Store
	t        *testing.T
	before   bool
	appended bool
}

func (s *appendingStore) Events(ctx context.Context, q store.EventQuery) (store.EventPage, error) {
	if s.before {
		s.appendOnce()
	}
	page, err := s.Store.Events(ctx, q)
	s.appendOnce()
	return page, err
}

func (s *appendingStore) appendOnce() {
	s.t.Helper()
	if s.appended {
		return
	}
	s.appended = true
	var evs []store.Event
	for i := 31; i <= 35; i++ {
		evs = append(evs, testEvent("prod", i, t0.Add(time.Duration(i)*time.Second)))
	}
	if _, err := s.Store.AppendEvents(context.Background(), "prod", evs, Hash); err != nil {
		s.t.Fatal(err)
	}
}

func TestVerifyIsNotBrokenByAppendsWhileItRuns(t *testing.T) {
	tests := []struct {
		name   string
		before bool // the walk sees the new events
		r      Range
		count  int64
	}{
		{"events the walk sees were appended after the head was read", true, Range{}, 35},
		{"events the walk does not see were appended after it", false, Range{}, 30},
		{"a seq range reaching into events appended meanwhile", true, Range{FromSeq: 20, ToSeq: 40}, 16},
		{"a time range reaching into events appended meanwhile", true, Range{From: t0.Add(20 * time.Second)}, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := sqliteStore(t)
			appendChain(t, s, "prod", 30)
			got, err := Verify(context.Background(), &appendingStore{Store: s, t: t, before: tt.before}, "prod", tt.r)
			if err != nil || !got.OK || got.Count != tt.count {
				t.Fatalf("got %v, %v; want %d events intact", got, err, tt.count)
			}
		})
	}
}

func TestVerifyResultReadsAsOneLine(t *testing.T) {
	tests := []struct {
		r    VerifyResult
		want string
	}{
		{VerifyResult{Cluster: "prod", OK: true, Count: 3, FirstSeq: 1, LastSeq: 3, LastHash: "sha256:ab"},
			"cluster prod: intact, 3 events, seq 1..3, last hash sha256:ab"},
		{VerifyResult{Cluster: "prod", OK: true}, "cluster prod: intact, no events in range"},
		{VerifyResult{Cluster: "prod", Count: 4, Broken: &Break{Seq: 5, ID: "e5", Reason: "sequence gap: 3 followed by 5"}},
			"cluster prod: BROKEN at seq 5 (event e5): sequence gap: 3 followed by 5; 4 events before it verified"},
		{VerifyResult{Cluster: "prod", Count: 27, Broken: &Break{Seq: 28, Reason: "event 28 is missing: the chain's recorded head is at seq 30"}},
			"cluster prod: BROKEN at seq 28: event 28 is missing: the chain's recorded head is at seq 30; 27 events before it verified"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want || strings.Contains(got, "\n") {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
