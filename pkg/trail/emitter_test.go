package trail

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/test/logbuf"
	"github.com/bailiff/bailiff/test/poll"
)

// Modes of the test ingest server.
const (
	serverUp       = "up"
	serverDown     = "down"      // answers 503 without storing
	serverLoseAcks = "lose-acks" // stores, then answers 503, as if the answer were lost
)

const testToken = "blf_test-token"

// ingestServer is a stand-in for the central server: it speaks the wire
// format and appends to a real SQLite store with Hash.
type ingestServer struct {
	*httptest.Server
	store store.Store

	mu       sync.Mutex
	mode     string
	requests int
	poison   string // events with this name are refused with 400
}

func newIngestServer(t *testing.T, mode string) *ingestServer {
	t.Helper()
	st, _ := sqliteStore(t)
	s := &ingestServer{store: st, mode: mode}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *ingestServer) setMode(mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
}

func (s *ingestServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	mode, poison := s.mode, s.poison
	s.requests++
	s.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	if r.Method != http.MethodPost || r.URL.Path != EventsPath {
		reply(http.StatusNotFound, ErrorResponse{Error: "no such endpoint"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		reply(http.StatusUnauthorized, ErrorResponse{Error: "bad token"})
		return
	}
	if mode == serverDown {
		reply(http.StatusServiceUnavailable, ErrorResponse{Error: "down for the test"})
		return
	}
	var req IngestRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		reply(http.StatusBadRequest, ErrorResponse{Error: err.Error()})
		return
	}
	for _, e := range req.Events {
		if err := ValidateEvent(e); err != nil {
			reply(http.StatusBadRequest, ErrorResponse{Error: err.Error()})
			return
		}
		if poison != "" && e.Name == poison {
			reply(http.StatusBadRequest, ErrorResponse{Error: "poisoned event " + e.ID})
			return
		}
	}
	res, err := s.store.AppendEvents(r.Context(), req.Cluster, req.Events, Hash)
	if err != nil {
		reply(http.StatusInternalServerError, ErrorResponse{Error: err.Error()})
		return
	}
	if mode == serverLoseAcks {
		reply(http.StatusServiceUnavailable, ErrorResponse{Error: "answer lost for the test"})
		return
	}
	reply(http.StatusOK, IngestResponse{Stored: res.Stored, Duplicates: res.Duplicates, LastSeq: res.LastSeq})
}

func (s *ingestServer) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// storedIDs returns the IDs of a cluster's stored events in chain order.
func storedIDs(t *testing.T, s store.Store, cluster string) []string {
	t.Helper()
	var ids []string
	q := store.EventQuery{Cluster: cluster, Limit: 1000}
	for {
		page, err := s.Events(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		if page.Next == "" {
			return ids
		}
		q.Cursor = page.Next
	}
}

type emitterSetup struct {
	dir       string
	diskBytes int64
	memory    int
	logs      *logbuf.Buffer
}

func newTestEmitter(t *testing.T, srv *ingestServer, s emitterSetup) *Emitter {
	t.Helper()
	logger := (&logbuf.Buffer{}).Logger()
	if s.logs != nil {
		logger = s.logs.Logger()
	}
	e, err := NewEmitter(EmitterOptions{
		ServerURL: srv.URL, Token: testToken, Cluster: "prod", QueueDir: s.dir,
		DiskBytes: s.diskBytes, MemoryEvents: s.memory,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		HTTPClient: srv.Client(), Logger: logger, Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// emitN emits events 0..n-1 named by prefix and returns their IDs.
func emitN(e *Emitter, prefix string, n int) []string {
	var ids []string
	for i := range n {
		ev := store.Event{ID: fmt.Sprintf("%s-%05d", prefix, i), Source: SourceAdmission, Decision: "allowed",
			Kind: "Pod", Namespace: "shop", Name: fmt.Sprintf("pod-%d", i)}
		e.Emit(ev)
		ids = append(ids, ev.ID)
	}
	return ids
}

// metricValue is the sum of the values of the counters and gauges c collects.
func metricValue(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			panic(err)
		}
		sum += d.GetCounter().GetValue() + d.GetGauge().GetValue()
	}
	return sum
}

func diskEvents(e *Emitter) float64 {
	return metricValue(e.metrics.queueEvents.WithLabelValues("disk"))
}

func dropped(e *Emitter, reason string) float64 {
	return metricValue(e.metrics.dropped.WithLabelValues(reason))
}

// Returning from the loop at all is the assertion: an Emit that waited for
// the server would never return while it is down.
func TestEmitNeverBlocksWhileTheServerIsDown(t *testing.T) {
	srv := newIngestServer(t, serverDown)
	e := newTestEmitter(t, srv, emitterSetup{dir: t.TempDir()})
	emitN(e, "ev", 5000)
	poll.Until(t, "all events on disk", func() bool { return diskEvents(e) == 5000 })
	poll.Until(t, "a failed delivery", func() bool { return metricValue(e.metrics.shipErrors.WithLabelValues("server")) > 0 })
	if got := metricValue(e.metrics.dropped); got != 0 {
		t.Fatalf("%v events dropped", got)
	}
	if n := len(storedIDs(t, srv.store, "prod")); n != 0 {
		t.Fatalf("%d events stored by a server that is down", n)
	}
}

func TestEmitterDeliversEveryEventExactlyOnceAfterAnOutage(t *testing.T) {
	srv := newIngestServer(t, serverDown)
	e := newTestEmitter(t, srv, emitterSetup{dir: t.TempDir()})
	want := emitN(e, "before", 1200)
	poll.Until(t, "events queued on disk", func() bool { return diskEvents(e) == 1200 })
	poll.Until(t, "retries", func() bool { return srv.requestCount() >= 3 })

	// The server stores batches but the answers are lost: the emitter must
	// send them again, and the server must store them once.
	srv.setMode(serverLoseAcks)
	poll.Until(t, "a batch stored without an answer", func() bool { return len(storedIDs(t, srv.store, "prod")) > 0 })
	sent := srv.requestCount()
	poll.Until(t, "the batch sent again", func() bool { return srv.requestCount() > sent+1 })
	srv.setMode(serverUp)
	want = append(want, emitN(e, "after", 300)...)
	poll.Until(t, "the queue to empty", func() bool { return diskEvents(e) == 0 && len(storedIDs(t, srv.store, "prod")) == 1500 })

	if got := storedIDs(t, srv.store, "prod"); !slices.Equal(got, want) {
		t.Fatalf("stored %d events, want the %d emitted, once each and in order", len(got), len(want))
	}
	if dups := metricValue(e.metrics.shippedEvents.WithLabelValues("duplicate")); dups == 0 {
		t.Error("no duplicates reported, so no lost answer was re-sent")
	}
	res, err := Verify(context.Background(), srv.store, "prod", Range{})
	if err != nil || !res.OK || res.Count != 1500 {
		t.Fatalf("verify: %v, %v", res, err)
	}
}

func TestEmitterRestartLosesNothingWrittenToDisk(t *testing.T) {
	srv := newIngestServer(t, serverDown)
	dir := t.TempDir()

	first := newTestEmitter(t, srv, emitterSetup{dir: dir})
	want := emitN(first, "first", 700)
	poll.Until(t, "events on disk", func() bool { return diskEvents(first) == 700 })
	srv.setMode(serverLoseAcks) // some are stored, none acknowledged
	poll.Until(t, "a delivery without an answer", func() bool { return len(storedIDs(t, srv.store, "prod")) > 0 })
	srv.setMode(serverDown)
	want = append(want, emitN(first, "late", 50)...) // still in memory, possibly
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	srv.setMode(serverUp)
	second := newTestEmitter(t, srv, emitterSetup{dir: dir})
	if got := diskEvents(second); got == 0 {
		t.Fatal("the restarted emitter found nothing to deliver")
	}
	want = append(want, emitN(second, "second", 100)...)
	poll.Until(t, "everything delivered", func() bool { return len(storedIDs(t, srv.store, "prod")) == len(want) })
	poll.Until(t, "the queue to empty", func() bool { return diskEvents(second) == 0 })
	got := storedIDs(t, srv.store, "prod")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stored %d events, want the %d emitted, once each", len(got), len(want))
	}
	if res, err := Verify(context.Background(), srv.store, "prod", Range{}); err != nil || !res.OK {
		t.Fatalf("verify: %v, %v", res, err)
	}
}

func TestEmitterDropsAndCountsWhatExceedsTheDiskBudget(t *testing.T) {
	srv := newIngestServer(t, serverDown)
	var logs logbuf.Buffer
	dir := t.TempDir()
	e := newTestEmitter(t, srv, emitterSetup{dir: dir, diskBytes: 32 << 10, logs: &logs})
	emitN(e, "ev", 2000)
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	queued, full := diskEvents(e), dropped(e, dropDiskFull)
	if full == 0 || queued+full != 2000 {
		t.Fatalf("%v queued and %v dropped, want some dropped and 2000 in all", queued, full)
	}
	if _, _, onDisk := e.disk.Stats(); onDisk > 32<<10 {
		t.Fatalf("%d bytes on disk, budget %d", onDisk, 32<<10)
	}
	if lines := strings.Count(logs.String(), "reason=disk_full"); lines == 0 || float64(lines) >= full {
		t.Errorf("%d log lines for %v drops: want them logged, but not one by one", lines, full)
	}

	// What did fit is delivered after a restart.
	srv.setMode(serverUp)
	again := newTestEmitter(t, srv, emitterSetup{dir: dir})
	poll.Until(t, "the queued events delivered", func() bool { return len(storedIDs(t, srv.store, "prod")) == int(queued) })
	poll.Until(t, "the queue to empty", func() bool { return diskEvents(again) == 0 })
}

func TestEmitDropsAndCountsWhenMemoryIsFull(t *testing.T) {
	// An emitter whose writer is not running, so nothing leaves memory.
	metrics, err := newEmitterMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &Emitter{cluster: "prod", memory: newMemoryQueue(2), metrics: metrics,
		logger: (&logbuf.Buffer{}).Logger(), logs: newThrottle(time.Hour)}
	emitN(e, "ev", 5)
	if got := dropped(e, dropMemoryFull); got != 3 {
		t.Fatalf("dropped %v, want 3", got)
	}
	if got := metricValue(e.metrics.queueEvents.WithLabelValues("memory")); got != 2 {
		t.Fatalf("memory gauge %v, want 2", got)
	}
	e.memory.close()
	emitN(e, "late", 1)
	if got := dropped(e, dropClosed); got != 1 {
		t.Fatalf("emitted after close: dropped %v, want 1", got)
	}
}

func TestEmitterFillsInIDClusterAndTime(t *testing.T) {
	srv := newIngestServer(t, serverUp)
	e := newTestEmitter(t, srv, emitterSetup{dir: t.TempDir()})
	e.Emit(store.Event{Source: SourceConfig, Decision: "loaded"})
	poll.Until(t, "delivery", func() bool { return len(storedIDs(t, srv.store, "prod")) == 1 })
	page, err := srv.store.Events(context.Background(), store.EventQuery{Cluster: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	got := page.Events[0]
	if len(got.ID) != 36 || got.Cluster != "prod" || got.Time.IsZero() {
		t.Fatalf("got ID %q, cluster %q, time %v", got.ID, got.Cluster, got.Time)
	}
}

func TestEmitterDropsEventsTheServerCanNeverAccept(t *testing.T) {
	srv := newIngestServer(t, serverUp)
	srv.poison = "pod-7"
	e := newTestEmitter(t, srv, emitterSetup{dir: t.TempDir()})
	e.Emit(store.Event{Source: "gossip", Decision: "allowed"})                       // invalid source
	e.Emit(store.Event{Cluster: "staging", Source: SourceAudit, Decision: "opened"}) // another cluster's
	want := emitN(e, "ev", 20)
	want = slices.DeleteFunc(want, func(id string) bool { return id == "ev-00007" })
	poll.Until(t, "delivery", func() bool { return len(storedIDs(t, srv.store, "prod")) == len(want) })
	poll.Until(t, "the queue to empty", func() bool { return diskEvents(e) == 0 })
	if got := storedIDs(t, srv.store, "prod"); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	if got := dropped(e, dropInvalid); got != 2 {
		t.Errorf("invalid: got %v, want 2", got)
	}
	if got := dropped(e, dropRejected); got != 1 {
		t.Errorf("rejected: got %v, want 1", got)
	}
}

func TestThrottleLetsOneLineThroughPerInterval(t *testing.T) {
	th := newThrottle(time.Hour)
	if ok, held := th.allow("a"); !ok || held != 0 {
		t.Fatalf("first: %v, %d", ok, held)
	}
	for range 3 {
		if ok, _ := th.allow("a"); ok {
			t.Fatal("a second line within the interval got through")
		}
	}
	if ok, _ := th.allow("b"); !ok {
		t.Fatal("another key is throttled separately")
	}
	th.last["a"] = time.Now().Add(-2 * time.Hour)
	if ok, held := th.allow("a"); !ok || held != 3 {
		t.Fatalf("after the interval: %v, %d held; want true, 3", ok, held)
	}
}

func TestAnEmitterRecreatedInTheSameProcessKeepsItsMetrics(t *testing.T) {
	srv := newIngestServer(t, serverUp)
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	for range 2 {
		e, err := NewEmitter(EmitterOptions{ServerURL: srv.URL, Token: testToken, Cluster: "prod", QueueDir: dir, HTTPClient: srv.Client(), Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		emitN(e, NewEventID(), 1)
		if err := e.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "bailiff_trail_events_emitted_total" && f.GetMetric()[0].GetCounter().GetValue() == 2 {
			return
		}
	}
	t.Fatal("bailiff_trail_events_emitted_total is not 2 after two emitters emitted one event each")
}
