package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/input"
)

// scriptedDB answers DB from a script, then blocks until the test ends.
type scriptedDB struct {
	mu       sync.Mutex
	answers  []dbAnswer
	observed time.Time
	end      chan struct{}
}

type dbAnswer struct {
	status images.DBStatus
	err    error
}

func (s *scriptedDB) DB(ctx context.Context) (images.DBStatus, error) {
	s.mu.Lock()
	if len(s.answers) == 0 {
		s.mu.Unlock()
		close(s.end)
		<-ctx.Done()
		return images.DBStatus{}, ctx.Err()
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	s.mu.Unlock()
	return a.status, a.err
}

func (s *scriptedDB) ObserveDB(status images.DBStatus) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	newer := status.UpdatedAt.After(s.observed) && !s.observed.IsZero()
	if status.UpdatedAt.After(s.observed) {
		s.observed = status.UpdatedAt
	}
	return newer
}

func TestFollowScanDBSweepsWhenTheDatabaseChangesOrComesBack(t *testing.T) {
	t1 := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	t2 := t1.Add(6 * time.Hour)
	usable := func(at time.Time) dbAnswer { return dbAnswer{status: images.DBStatus{Usable: true, UpdatedAt: at}} }
	db := &scriptedDB{end: make(chan struct{}), answers: []dbAnswer{
		{err: errors.New("connection refused")}, // the scanner is not up yet
		usable(t1),                              // it is: images were described as unavailable
		usable(t1),                              // nothing changed
		usable(t2),                              // a newer database
		{status: images.DBStatus{Reason: "vulnerability database too old"}}, // unusable
		usable(t2), // usable again
	}}
	metrics, _ := NewMetrics(nil)
	a := &Auditor{opts: Options{ScanDB: db, ScanDBInterval: time.Millisecond}, log: slog.New(slog.DiscardHandler), metrics: metrics}
	ctx, cancel := context.WithCancel(context.Background())
	sweeps := make(chan string, 10)
	done := make(chan struct{})
	go func() { a.followScanDB(ctx, sweeps); close(done) }()
	var got []string
	for {
		select {
		case r := <-sweeps:
			got = append(got, r)
			continue
		case <-db.end:
		}
		break
	}
	cancel()
	<-done
	close(sweeps)
	for r := range sweeps {
		got = append(got, r)
	}
	want := []string{
		"the scanner's vulnerability database is usable again",
		"vulnerability database updated to 2026-11-01T12:00:00Z",
		"the scanner's vulnerability database is usable again",
	}
	if len(got) != len(want) {
		t.Fatalf("sweeps %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sweep %d: %q, want %q", i, got[i], want[i])
		}
	}
	if a.epoch.Load() != 3 {
		t.Errorf("epoch %d, want 3: each sweep outdates the controllers' remembered violations", a.epoch.Load())
	}
	if a.scanDBTime.Load() != t2.UnixNano() {
		t.Errorf("the auditor holds database time %v, want %v", time.Unix(0, a.scanDBTime.Load()).UTC(), t2)
	}
}

func TestProvisionalImageFacts(t *testing.T) {
	db := time.Date(2026, 11, 2, 6, 0, 0, 500_000_000, time.UTC)
	scanned := func(dbUpdatedAt string) input.Image {
		return input.Image{Reference: "r/a:1", Scanned: true, Scan: &input.ScanResult{DBUpdatedAt: dbUpdatedAt}}
	}
	tests := []struct {
		name   string
		known  bool
		images map[string]input.Image
		want   bool
	}{
		{"a pending scan", true, map[string]input.Image{"a": {UnscannedReason: "pending"}}, true},
		{"a pending scan with no database known yet", false, map[string]input.Image{"a": {UnscannedReason: "pending"}}, true},
		{"a result from an older database", true, map[string]input.Image{"a": scanned("2026-11-01T06:00:00Z")}, true},
		{"a result from the current database (whole seconds)", true, map[string]input.Image{"a": scanned("2026-11-02T06:00:00Z")}, false},
		{"no database known yet", false, map[string]input.Image{"a": scanned("2026-11-01T06:00:00Z")}, false},
		{"a failed scan waits for the scanner's own retries", true, map[string]input.Image{"a": {UnscannedReason: "failed: registry said no"}}, false},
		{"one of several", true, map[string]input.Image{"a": scanned("2026-11-02T06:00:00Z"), "b": {UnscannedReason: "pending"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Auditor{}
			if tt.known {
				a.scanDBTime.Store(db.UnixNano())
			}
			if got := a.provisional(tt.images); got != tt.want {
				t.Errorf("provisional = %v, want %v", got, tt.want)
			}
		})
	}
}
