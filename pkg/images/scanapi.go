package images

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// The scanner's internal API, spoken between bailiff-scanner and the webhook and
// auditor:
//
//	POST /v1/scans  {"requests": [ScanRequest...]}  →  {"results": [ScanResult...]}
//	GET  /v1/db     →  DBStatus
//
// Every call carries "Authorization: Bearer <token>", a secret both sides read
// from a file (a Kubernetes Secret in the chart).
const (
	scansPath = "/v1/scans"
	dbPath    = "/v1/db"
	// MaxScanRequests caps the requests of one lookup: far more images than any pod has.
	MaxScanRequests = 256
	maxAPIBody      = 1 << 20
	maxAPIAnswer    = 16 << 20
)

type scanLookupBody struct {
	Requests []ScanRequest `json:"requests"`
}

type scanLookupAnswer struct {
	Results []ScanResult `json:"results"`
}

type apiError struct {
	Error string `json:"error"`
}

// ScanAPI serves the internal API in front of a ScanService.
func ScanAPI(svc *ScanService, token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+scansPath, func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
		if err != nil {
			status := http.StatusBadRequest
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				status = http.StatusRequestEntityTooLarge
			}
			writeAPI(w, status, apiError{Error: "read scan lookup: " + err.Error()})
			return
		}
		var body scanLookupBody
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeAPI(w, http.StatusBadRequest, apiError{Error: "decode scan lookup: " + err.Error()})
			return
		}
		if len(body.Requests) > MaxScanRequests {
			writeAPI(w, http.StatusRequestEntityTooLarge, apiError{
				Error: fmt.Sprintf("%d requests in one lookup; at most %d", len(body.Requests), MaxScanRequests)})
			return
		}
		writeAPI(w, http.StatusOK, scanLookupAnswer{Results: svc.Lookup(r.Context(), body.Requests)})
	})
	mux.HandleFunc("GET "+dbPath, func(w http.ResponseWriter, r *http.Request) {
		writeAPI(w, http.StatusOK, svc.opts.Scanner.DB())
	})
	return requireToken(token, mux)
}

func requireToken(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			writeAPI(w, http.StatusUnauthorized, apiError{Error: "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeAPI(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func encodeJSON(v any) ([]byte, error) { return json.Marshal(v) }

func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }

// ScanClientOptions configure a ScanClient.
type ScanClientOptions struct {
	URL        string       // the scanner's base URL, e.g. https://bailiff-scanner.bailiff.svc:8443
	Token      string       // the shared bearer token
	HTTPClient *http.Client // default: a client with a 5s timeout
	// CacheTTL is how long a finished scan is reused without asking the scanner;
	// it bounds how late a database update reaches admission. Default 10m.
	CacheTTL   time.Duration
	MaxEntries int // default 10,000
}

// ScanClient asks a bailiff-scanner for scan results, remembering finished ones
// so that admission of an already scanned image costs no network call.
type ScanClient struct {
	opts  ScanClientOptions
	cache *expirable.LRU[string, ScanResult]
	// db is the UpdatedAt of the newest scanner database ObserveDB was told
	// of, in Unix nanoseconds; remembered results made with an older one are
	// asked for again.
	db atomic.Int64
}

// NewScanClient returns a client with defaults filled in.
func NewScanClient(opts ScanClientOptions) (*ScanClient, error) {
	if opts.URL == "" {
		return nil, errors.New("scan client: the scanner URL is required")
	}
	if opts.Token == "" {
		return nil, errors.New("scan client: the scanner token is required")
	}
	opts.URL = strings.TrimRight(opts.URL, "/")
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 10 * time.Minute
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 10000
	}
	return &ScanClient{opts: opts, cache: expirable.NewLRU[string, ScanResult](opts.MaxEntries, nil, opts.CacheTTL)}, nil
}

// Cached returns a finished scan of digest remembered from an earlier lookup,
// unless it was made with a database older than the one ObserveDB last saw.
func (c *ScanClient) Cached(digest string) (ScanResult, bool) {
	r, ok := c.cache.Get(digest)
	if !ok || c.Outdated(r) {
		return ScanResult{}, false
	}
	return r, true
}

// ObserveDB tells the client which database the scanner uses now (from DB).
// Remembered results made with an older database stop being reused, and the
// scanner is asked again (it rescans them). It reports whether status is
// newer than the database observed before, if any.
func (c *ScanClient) ObserveDB(status DBStatus) (newer bool) {
	t := status.UpdatedAt.UnixNano()
	if status.UpdatedAt.IsZero() {
		return false
	}
	for {
		old := c.db.Load()
		if t <= old {
			return false
		}
		if c.db.CompareAndSwap(old, t) {
			return old != 0
		}
	}
}

// FollowDB asks the scanner for its database every interval until ctx ends
// and observes it, so that results made with an older database are not
// reused for up to CacheTTL after an update. A failed call is passed to
// onError and tried again at the next tick.
func (c *ScanClient) FollowDB(ctx context.Context, interval time.Duration, onError func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		askCtx, cancel := context.WithTimeout(ctx, interval)
		status, err := c.DB(askCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			onError(err)
		default:
			c.ObserveDB(status)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Outdated reports whether r was made with a database older than the one
// ObserveDB last saw: a scanner answers such a result while it rescans.
func (c *ScanClient) Outdated(r ScanResult) bool {
	db := c.db.Load()
	return db != 0 && r.Scanned() && r.Summary.DBUpdatedAt.UnixNano() < db
}

// Lookup returns a result for each request, in order: from the cache when a
// finished scan is remembered, otherwise from one call to the scanner (which
// queues scans it has no result for). When the scanner cannot be asked, every
// uncached request gets ScanUnavailable with the reason; the error says the same
// for logs and metrics.
func (c *ScanClient) Lookup(ctx context.Context, reqs []ScanRequest) ([]ScanResult, error) {
	out := make([]ScanResult, len(reqs))
	var ask []ScanRequest
	var at []int
	for i, req := range reqs {
		if r, ok := c.Cached(req.Digest); ok {
			out[i] = r
			continue
		}
		ask = append(ask, req)
		at = append(at, i)
	}
	if len(ask) == 0 {
		return out, nil
	}
	results, err := c.ask(ctx, ask)
	for j, i := range at {
		if err != nil {
			reason := "scanner unreachable: " + err.Error()
			if ctx.Err() != nil {
				reason = "the scanner did not answer in time"
			}
			out[i] = ScanResult{Digest: ask[j].Digest, Status: ScanUnavailable, Reason: reason}
			continue
		}
		out[i] = results[j]
		if results[j].Scanned() {
			c.cache.Add(results[j].Digest, results[j])
		}
	}
	return out, err
}

func (c *ScanClient) ask(ctx context.Context, reqs []ScanRequest) ([]ScanResult, error) {
	var results []ScanResult
	for start := 0; start < len(reqs); start += MaxScanRequests {
		part := reqs[start:min(start+MaxScanRequests, len(reqs))]
		var answer scanLookupAnswer
		if err := c.call(ctx, http.MethodPost, scansPath, scanLookupBody{Requests: part}, &answer); err != nil {
			return nil, err
		}
		if len(answer.Results) != len(part) {
			return nil, fmt.Errorf("scanner answered %d results for %d requests", len(answer.Results), len(part))
		}
		results = append(results, answer.Results...)
	}
	return results, nil
}

// DB asks the scanner which vulnerability database it uses.
func (c *ScanClient) DB(ctx context.Context) (DBStatus, error) {
	var status DBStatus
	err := c.call(ctx, http.MethodGet, dbPath, nil, &status)
	return status, err
}

func (c *ScanClient) call(ctx context.Context, method, path string, body, answer any) error {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.opts.URL+path, reader)
	if err != nil {
		return fmt.Errorf("scanner request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("call scanner: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer+1))
	if err != nil {
		return fmt.Errorf("read scanner answer: %w", err)
	}
	if len(data) > maxAPIAnswer {
		return fmt.Errorf("scanner answer larger than %d bytes", maxAPIAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("scanner answered %s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("scanner answered %s", resp.Status)
	}
	if err := json.Unmarshal(data, answer); err != nil {
		return fmt.Errorf("decode scanner answer: %w", err)
	}
	return nil
}
