package images

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bailiff/bailiff/pkg/store"
)

// ScanStore keeps scan results by digest so scanner replicas and restarts share them.
// store.Store satisfies it.
type ScanStore interface {
	PutScan(ctx context.Context, scan store.ScanRecord) error
	Scan(ctx context.Context, digest string) (store.ScanRecord, error)
}

// ScanServiceOptions configure a ScanService.
type ScanServiceOptions struct {
	Scanner     Scanner
	Store       ScanStore     // nil: results are kept in memory only
	Workers     int           // concurrent scans; default 2
	QueueSize   int           // scans waiting for a worker; default 1,000
	MaxEntries  int           // results kept in memory; default 10,000
	ScanTimeout time.Duration // per scan, pull included; default 5m
	RetryBase   time.Duration // first wait after a failed scan; default 30s, doubling
	RetryMax    time.Duration // longest wait between attempts; default 30m
	Now         func() time.Time
	Logger      *slog.Logger
	Registerer  prometheus.Registerer // nil: metrics are not registered
}

// ScanService answers scan lookups from memory, the store, or by queueing a scan:
// it never makes a caller wait for a scan. Each digest is scanned once however
// many lookups ask for it; failures are retried with exponential backoff, and
// results made with an older vulnerability database are rescanned.
type ScanService struct {
	opts    ScanServiceOptions
	queue   chan ScanRequest
	metrics scanMetrics

	mu      sync.Mutex
	results *lru.Cache[string, scanEntry]
	queued  map[string]bool // digests waiting or being scanned
}

type scanEntry struct {
	result    ScanResult
	attempts  int       // consecutive failures
	nextRetry time.Time // for failures
}

type scanMetrics struct {
	scans    *prometheus.CounterVec
	duration prometheus.Histogram
	queued   prometheus.Gauge
}

// NewScanService returns a service with defaults filled in; Run starts its workers.
func NewScanService(opts ScanServiceOptions) (*ScanService, error) {
	if opts.Scanner == nil {
		return nil, errors.New("scan service: a scanner is required")
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 10000
	}
	if opts.ScanTimeout <= 0 {
		opts.ScanTimeout = 5 * time.Minute
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 30 * time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 30 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	results, err := lru.New[string, scanEntry](opts.MaxEntries)
	if err != nil {
		return nil, fmt.Errorf("scan service: %w", err)
	}
	s := &ScanService{
		opts:    opts,
		queue:   make(chan ScanRequest, opts.QueueSize),
		results: results,
		queued:  map[string]bool{},
		metrics: scanMetrics{
			scans: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "bailiff_scanner_scans_total",
				Help: "Image scans run, by outcome (scanned, failed).",
			}, []string{"outcome"}),
			duration: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "bailiff_scanner_scan_duration_seconds",
				Help:    "Time to pull and scan one image.",
				Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
			}),
			queued: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "bailiff_scanner_queued_scans",
				Help: "Digests waiting for or undergoing a scan.",
			}),
		},
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{s.metrics.scans, s.metrics.duration, s.metrics.queued} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("scan service metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Run scans queued images with the configured number of workers until ctx ends.
func (s *ScanService) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case req := <-s.queue:
					s.scan(ctx, req)
				}
			}
		})
	}
	wg.Wait()
}

// Lookup returns what is known of each request's digest now, queueing scans for
// digests without a current result. It does not wait for scans.
func (s *ScanService) Lookup(ctx context.Context, reqs []ScanRequest) []ScanResult {
	db := s.opts.Scanner.DB()
	out := make([]ScanResult, len(reqs))
	for i, req := range reqs {
		out[i] = s.lookup(ctx, req, db)
	}
	return out
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// CheckScanRequest reports what is wrong with a request, if anything.
func CheckScanRequest(req ScanRequest) error {
	if !digestPattern.MatchString(req.Digest) {
		return fmt.Errorf("digest %q is not sha256:<64 hex digits>", req.Digest)
	}
	ref, err := name.ParseReference(req.Image)
	if err != nil {
		return fmt.Errorf("image %q: %w", req.Image, err)
	}
	if d, ok := ref.(name.Digest); !ok || d.DigestStr() != req.Digest {
		return fmt.Errorf("image %q is not pinned to digest %s", req.Image, req.Digest)
	}
	return nil
}

func (s *ScanService) lookup(ctx context.Context, req ScanRequest, db DBStatus) ScanResult {
	if err := CheckScanRequest(req); err != nil {
		return ScanResult{Digest: req.Digest, Status: ScanFailed, Reason: "invalid request: " + err.Error()}
	}
	if !db.Usable {
		return ScanResult{Digest: req.Digest, Status: ScanUnavailable, Reason: db.Reason}
	}
	entry, ok := s.cached(req.Digest)
	if !ok && s.opts.Store != nil {
		entry, ok = s.fromStore(ctx, req.Digest)
	}
	switch {
	case ok && entry.result.Scanned():
		if entry.result.Summary.DBUpdatedAt.Before(db.UpdatedAt) && !s.opts.Now().Before(entry.nextRetry) {
			// Made with an older database: still the best answer until the rescan lands.
			s.enqueue(req)
		}
		return entry.result
	case ok && entry.result.Status == ScanFailed && s.opts.Now().Before(entry.nextRetry):
		return entry.result
	}
	if !s.enqueue(req) {
		return ScanResult{Digest: req.Digest, Status: ScanPending, Reason: "scan queue full"}
	}
	return ScanResult{Digest: req.Digest, Status: ScanPending}
}

func (s *ScanService) cached(digest string) (scanEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.results.Get(digest)
}

func (s *ScanService) fromStore(ctx context.Context, digest string) (scanEntry, bool) {
	rec, err := s.opts.Store.Scan(ctx, digest)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.opts.Logger.Warn("read scan result from the store", "digest", digest, "err", err)
		}
		return scanEntry{}, false
	}
	var result ScanResult
	if err := decodeJSON(rec.Result, &result); err != nil || !result.Scanned() {
		s.opts.Logger.Warn("ignore unreadable stored scan result", "digest", digest, "err", err)
		return scanEntry{}, false
	}
	entry := scanEntry{result: result}
	s.mu.Lock()
	s.results.Add(digest, entry)
	s.mu.Unlock()
	return entry, true
}

// enqueue queues a scan of req's digest unless one is queued or running; it
// reports false only when the queue is full.
func (s *ScanService) enqueue(req ScanRequest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued[req.Digest] {
		return true
	}
	select {
	case s.queue <- req:
		s.queued[req.Digest] = true
		s.metrics.queued.Set(float64(len(s.queued)))
		return true
	default:
		return false
	}
}

func (s *ScanService) scan(ctx context.Context, req ScanRequest) {
	defer func() {
		s.mu.Lock()
		delete(s.queued, req.Digest)
		s.metrics.queued.Set(float64(len(s.queued)))
		s.mu.Unlock()
	}()
	scanCtx, cancel := context.WithTimeout(ctx, s.opts.ScanTimeout)
	defer cancel()
	start := time.Now()
	summary, err := s.opts.Scanner.Scan(scanCtx, req)
	s.metrics.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: not the image's fault
		}
		s.failed(req, err)
		return
	}
	s.metrics.scans.WithLabelValues("scanned").Inc()
	result := ScanResult{Digest: req.Digest, Status: ScanDone, Summary: &summary}
	s.mu.Lock()
	s.results.Add(req.Digest, scanEntry{result: result})
	s.mu.Unlock()
	s.opts.Logger.Info("image scanned", "image", req.Image, "critical", summary.Critical, "high", summary.High,
		"medium", summary.Medium, "low", summary.Low, "seconds", time.Since(start).Seconds())
	if s.opts.Store != nil {
		if err := s.save(ctx, result); err != nil {
			s.opts.Logger.Warn("keep scan result in the store", "digest", req.Digest, "err", err)
		}
	}
}

func (s *ScanService) failed(req ScanRequest, err error) {
	s.metrics.scans.WithLabelValues("failed").Inc()
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, _ := s.results.Get(req.Digest)
	attempts := 1
	if prev.result.Status == ScanFailed {
		attempts = prev.attempts + 1
	}
	wait := s.opts.RetryBase << min(attempts-1, 20)
	if wait > s.opts.RetryMax || wait <= 0 {
		wait = s.opts.RetryMax
	}
	entry := scanEntry{
		result:    ScanResult{Digest: req.Digest, Status: ScanFailed, Reason: err.Error()},
		attempts:  attempts,
		nextRetry: s.opts.Now().Add(wait),
	}
	if prev.result.Scanned() {
		// A rescan failed: keep serving the result we have, and retry later.
		entry.result = prev.result
	}
	s.results.Add(req.Digest, entry)
	s.opts.Logger.Warn("image scan failed", "image", req.Image, "attempt", attempts, "retry_in", wait.String(), "err", err)
}

func (s *ScanService) save(ctx context.Context, result ScanResult) error {
	body, err := encodeJSON(result)
	if err != nil {
		return err
	}
	return s.opts.Store.PutScan(ctx, store.ScanRecord{
		Digest:      result.Digest,
		ScannedAt:   result.Summary.ScannedAt,
		DBUpdatedAt: result.Summary.DBUpdatedAt,
		Result:      body,
	})
}
