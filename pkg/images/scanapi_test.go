package images

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

// countingScanner is staticScanner that counts its scans.
type countingScanner struct {
	staticScanner
	scans atomic.Int64
}

func (c *countingScanner) Scan(ctx context.Context, req ScanRequest) (Summary, error) {
	c.scans.Add(1)
	return c.staticScanner.Scan(ctx, req)
}

func runService(t *testing.T, opts ScanServiceOptions) *ScanService {
	t.Helper()
	svc, err := NewScanService(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return svc
}

func waitDone(t *testing.T, svc *ScanService, req ScanRequest) ScanResult {
	t.Helper()
	for range 5000 {
		if r := svc.Lookup(context.Background(), []ScanRequest{req})[0]; r.Status != ScanPending {
			return r
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("scan never finished")
	return ScanResult{}
}

func TestScanAPIRefusesBadCallsWithAReason(t *testing.T) {
	svc := runService(t, ScanServiceOptions{Scanner: staticScanner{}})
	srv := httptest.NewServer(ScanAPI(svc, "secret"))
	defer srv.Close()
	tests := []struct {
		name, token, body string
		status            int
		reason            string
	}{
		{"no token", "", `{"requests":[]}`, http.StatusUnauthorized, "bearer token"},
		{"a wrong token", "guess", `{"requests":[]}`, http.StatusUnauthorized, "bearer token"},
		{"malformed JSON", "secret", `{"requests":[`, http.StatusBadRequest, "decode scan lookup"},
		{"an unknown field", "secret", `{"request":[]}`, http.StatusBadRequest, "unknown field"},
		{"too many requests", "secret", `{"requests":[` + strings.Repeat(`{},`, MaxScanRequests) + `{}]}`, http.StatusRequestEntityTooLarge, "at most"},
		{"an oversized body", "secret", `{"requests":[{"image":"` + strings.Repeat("a", 2<<20) + `"}]}`, http.StatusRequestEntityTooLarge, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/scans", strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(body.String(), tt.reason) {
				t.Errorf("%d %s, want %d mentioning %q", resp.StatusCode, body.String(), tt.status, tt.reason)
			}
		})
	}
}

func TestInvalidScanRequestsFailAloneNamingTheProblem(t *testing.T) {
	svc := runService(t, ScanServiceOptions{Scanner: staticScanner{}})
	good := benchRequests(1)[0]
	got := svc.Lookup(context.Background(), []ScanRequest{
		{Image: "registry.example.com/app:1", Digest: good.Digest},
		{Image: "registry.example.com/app@sha256:12", Digest: "sha256:12"},
		{Image: "UPPER/case@" + good.Digest, Digest: good.Digest},
		good,
	})
	for i, want := range []string{"not pinned", "sha256:<64 hex digits>", "image"} {
		if got[i].Status != ScanFailed || !strings.Contains(got[i].Reason, want) {
			t.Errorf("request %d: %+v, want failed mentioning %q", i, got[i], want)
		}
	}
	if got[3].Status != ScanPending {
		t.Errorf("the valid request: %+v, want pending", got[3])
	}
}

func TestScanResultsAreSharedThroughTheStore(t *testing.T) {
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "bailiff.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req := benchRequests(1)[0]

	first := &countingScanner{}
	r := waitDone(t, runService(t, ScanServiceOptions{Scanner: first, Store: s}), req)
	if !r.Scanned() || first.scans.Load() != 1 {
		t.Fatalf("first replica: %+v after %d scans", r, first.scans.Load())
	}
	for i := 0; ; i++ { // the store write follows the scan
		if _, err := s.Scan(context.Background(), req.Digest); err == nil {
			break
		} else if i == 5000 {
			t.Fatalf("the result never reached the store: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	// A second replica (or the first, restarted) answers from the store without scanning.
	second := &countingScanner{}
	r = runService(t, ScanServiceOptions{Scanner: second, Store: s}).Lookup(context.Background(), []ScanRequest{req})[0]
	if !r.Scanned() || r.Summary.High != 1 || second.scans.Load() != 0 {
		t.Fatalf("second replica: %+v after %d scans", r, second.scans.Load())
	}
}

func TestScanClientWithinItsBudget(t *testing.T) {
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang) // before Close, which waits for the handler
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	tests := []struct {
		name, url, reason string
	}{
		{"a scanner that does not answer in time", slow.URL, "did not answer in time"},
		{"a scanner that is down", downURL, "scanner unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, err := NewScanClient(ScanClientOptions{URL: tt.url, Token: "t"})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			got, err := client.Lookup(ctx, benchRequests(2))
			if err == nil {
				t.Fatal("no error")
			}
			for _, r := range got {
				if r.Status != ScanUnavailable || !strings.Contains(r.Reason, tt.reason) || r.Scanned() {
					t.Errorf("%+v, want unavailable because %q", r, tt.reason)
				}
			}
		})
	}
}

func TestFailedScansAreRetriedWithBackoff(t *testing.T) {
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	clock := func() time.Time { return *now.Load() }
	failing := &failingScanner{}
	svc := runService(t, ScanServiceOptions{Scanner: failing, RetryBase: time.Minute, Now: clock})
	req := benchRequests(1)[0]
	r := waitDone(t, svc, req)
	if r.Status != ScanFailed || !strings.Contains(r.Reason, "registry said no") || r.UnscannedReason() != "failed: registry said no" {
		t.Fatalf("%+v", r)
	}
	// Within the backoff the failure is answered without another attempt.
	svc.Lookup(context.Background(), []ScanRequest{req})
	if n := failing.scans.Load(); n != 1 {
		t.Fatalf("%d attempts within the backoff", n)
	}
	later := start.Add(61 * time.Second)
	now.Store(&later)
	waitDone(t, svc, req)
	if n := failing.scans.Load(); n != 2 {
		t.Fatalf("%d attempts after the backoff, want 2", n)
	}
}

type failingScanner struct {
	staticScanner
	scans atomic.Int64
}

func (f *failingScanner) Scan(context.Context, ScanRequest) (Summary, error) {
	f.scans.Add(1)
	return Summary{}, errString("registry said no")
}

type errString string

func (e errString) Error() string { return string(e) }

func TestScanClientAsksAgainOnceTheDatabaseIsNewer(t *testing.T) {
	older := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	newer := older.Add(24 * time.Hour)
	var calls atomic.Int64
	scanner := httptest.NewServer(requireToken("t", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var body scanLookupBody
		if err := decodeJSON(mustRead(t, r), &body); err != nil {
			t.Error(err)
		}
		var answer scanLookupAnswer
		for _, req := range body.Requests {
			answer.Results = append(answer.Results, ScanResult{Digest: req.Digest, Status: ScanDone,
				Summary: &Summary{DBUpdatedAt: older, ScannedAt: older}})
		}
		writeAPI(w, http.StatusOK, answer)
	})))
	defer scanner.Close()
	client, err := NewScanClient(ScanClientOptions{URL: scanner.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := benchRequests(2)
	lookup := func() []ScanResult {
		t.Helper()
		got, err := client.Lookup(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	lookup()
	lookup()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls for two lookups of remembered scans, want 1", n)
	}
	if client.ObserveDB(DBStatus{Usable: true, UpdatedAt: older}) {
		t.Error("the first database observed is not an update")
	}
	if client.ObserveDB(DBStatus{Usable: true, UpdatedAt: older}) {
		t.Error("the same database again is not an update")
	}
	lookup()
	if n := calls.Load(); n != 1 {
		t.Fatalf("the database the results were made with: %d calls, want still 1", n)
	}
	if !client.ObserveDB(DBStatus{Usable: true, UpdatedAt: newer}) {
		t.Error("a newer database is an update")
	}
	got := lookup()
	if n := calls.Load(); n != 2 {
		t.Fatalf("after a database update: %d calls, want 2", n)
	}
	if !client.Outdated(got[0]) {
		t.Error("a result made with the older database is outdated")
	}
	if _, ok := client.Cached(reqs[0].Digest); ok {
		t.Error("an outdated result is not reused")
	}
	if client.ObserveDB(DBStatus{Usable: true, UpdatedAt: older}) {
		t.Error("an older database is not an update")
	}
}

func mustRead(t *testing.T, r *http.Request) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
