package trail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bailiff/bailiff/pkg/diskqueue"
	"github.com/bailiff/bailiff/pkg/store"
)

// EmitterOptions configure an Emitter. Zero limits take the defaults below.
type EmitterOptions struct {
	ServerURL string // the central server, https://host:port
	Token     string // the cluster's bearer token
	Cluster   string // the cluster's name, set on events that have none
	QueueDir  string // the durable queue's directory; keep it on a persistent volume

	MemoryEvents int   // in-memory queue capacity, default 10000 events
	DiskBytes    int64 // disk queue budget, default 256 MiB
	SegmentBytes int64 // disk queue segment size, default 8 MiB (at most DiskBytes/4)
	BatchEvents  int   // events per delivery, default 500
	BatchBytes   int64 // bytes of events per delivery, default 1 MiB; also the largest event kept
	MinBackoff   time.Duration
	MaxBackoff   time.Duration // retry waits double from MinBackoff (500ms) to MaxBackoff (1m)
	// BatchDelay is how long the shipper lets a batch fill before sending one
	// smaller than BatchEvents; 0 sends what is on disk at once. A steady
	// trickle (admission at hundreds of requests/s) otherwise costs a POST, a
	// server transaction and an acknowledgement fsync per event or two.
	// Events wait on disk meanwhile: the delay costs freshness, not durability.
	BatchDelay time.Duration
	// WriteDelay is how long events gather in memory before they are written to disk
	// together, with one sync; default 20ms, negative writes each at once. Events
	// in memory are lost if the process dies, so keep it short.
	WriteDelay time.Duration

	HTTPClient *http.Client // nil means http.DefaultClient
	Logger     *slog.Logger
	Registerer prometheus.Registerer // the emitter's metrics are registered here; nil registers none
}

func (o *EmitterOptions) defaults() {
	if o.MemoryEvents <= 0 {
		o.MemoryEvents = 10000
	}
	if o.DiskBytes <= 0 {
		o.DiskBytes = 256 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = min(8<<20, max(o.DiskBytes/4, 1))
	}
	if o.BatchEvents <= 0 {
		o.BatchEvents = 500
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 1 << 20
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Minute, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.WriteDelay == 0:
		o.WriteDelay = 20 * time.Millisecond
	case o.WriteDelay < 0:
		o.WriteDelay = 0
	}
}

// writeBatch is how many events the writer takes from memory per disk sync.
const writeBatch = 256

// Emitter delivers trail events to the central server without ever blocking
// its caller: Emit puts an event in a bounded memory queue; a writer moves
// events to a durable disk queue, syncing per batch; a shipper posts batches
// to the server and acknowledges them on the disk only after a 2xx answer.
// A server outage fills the disk queue, up to its budget; a restart resumes
// from the last acknowledgement, re-sending what the server may already have
// (it drops duplicates by ID). Whatever cannot be kept is dropped, counted
// and logged, never waited for.
type Emitter struct {
	cluster    string
	writeDelay time.Duration
	maxEvent   int64
	memory     *memoryQueue
	disk       *diskqueue.Queue
	metrics    *emitterMetrics
	logger     *slog.Logger
	logs       *throttle

	writerDone  chan struct{}
	stopShipper context.CancelFunc
	shipperDone chan struct{}
	closeOnce   sync.Once
	closeErr    error
}

// NewEmitter opens (or creates) the disk queue and starts delivering what it
// holds from an earlier run.
func NewEmitter(opts EmitterOptions) (*Emitter, error) {
	opts.defaults()
	if err := ValidateClusterName(opts.Cluster); err != nil {
		return nil, err
	}
	if opts.QueueDir == "" {
		return nil, errors.New("trail emitter: no queue directory")
	}
	client, err := NewClient(opts.ServerURL, opts.Token, opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	metrics, err := newEmitterMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	disk, err := diskqueue.Open(opts.QueueDir, opts.DiskBytes, opts.SegmentBytes, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("trail queue %s: %w", opts.QueueDir, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Emitter{
		cluster:     opts.Cluster,
		writeDelay:  opts.WriteDelay,
		maxEvent:    opts.BatchBytes,
		memory:      newMemoryQueue(opts.MemoryEvents),
		disk:        disk,
		metrics:     metrics,
		logger:      opts.Logger,
		logs:        newThrottle(10 * time.Second),
		writerDone:  make(chan struct{}),
		stopShipper: cancel,
		shipperDone: make(chan struct{}),
	}
	ship := &shipper{
		queue: disk, send: client, cluster: opts.Cluster,
		maxEvents: opts.BatchEvents, maxBytes: opts.BatchBytes, batchDelay: opts.BatchDelay,
		minBackoff: opts.MinBackoff, maxBackoff: opts.MaxBackoff,
		metrics: metrics, logger: opts.Logger, logs: e.logs, changed: e.updateDiskGauges,
	}
	e.updateDiskGauges()
	go func() {
		defer close(e.writerDone)
		e.write()
	}()
	go func() {
		defer close(e.shipperDone)
		ship.run(ctx)
	}()
	return e, nil
}

// Emit queues an event and returns at once. It sets ID (a UUIDv7), Cluster
// and Time when they are empty. If the memory queue is full the event is
// dropped and counted.
func (e *Emitter) Emit(ev store.Event) {
	if ev.ID == "" {
		ev.ID = NewEventID()
	}
	if ev.Cluster == "" {
		ev.Cluster = e.cluster
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	// Counted before the push, so the writer never takes away what is not counted yet.
	depth := e.metrics.memoryDepth
	depth.Inc()
	switch e.memory.push(ev) {
	case pushed:
		e.metrics.emitted.Inc()
	case pushFull:
		depth.Dec()
		e.drop(dropMemoryFull, 1, nil)
	case pushClosed:
		depth.Dec()
		e.drop(dropClosed, 1, nil)
	}
}

// NewEventID returns a new event ID: a UUIDv7, which sorts by creation time.
func NewEventID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// write moves events from memory to disk until the memory queue is closed and empty.
func (e *Emitter) write() {
	for {
		events, more := e.memory.take(writeBatch, e.writeDelay)
		if len(events) > 0 {
			e.persist(events)
			e.metrics.memoryDepth.Sub(float64(len(events)))
		}
		if !more {
			return
		}
	}
}

// persist encodes events and appends them to the disk queue.
func (e *Emitter) persist(events []store.Event) {
	payloads := make([][]byte, 0, len(events))
	for _, ev := range events {
		if ev.Cluster != e.cluster {
			e.drop(dropInvalid, 1, fmt.Errorf("event %s is for cluster %q, the emitter for %q", ev.ID, ev.Cluster, e.cluster))
			continue
		}
		if err := ValidateEvent(ev); err != nil {
			e.drop(dropInvalid, 1, fmt.Errorf("event %s: %w", ev.ID, err))
			continue
		}
		ev.Time = NormalizeTime(ev.Time)
		p, err := json.Marshal(ev)
		if err != nil {
			e.drop(dropInvalid, 1, fmt.Errorf("encode event %s: %w", ev.ID, err))
			continue
		}
		if int64(len(p)) > e.maxEvent {
			e.drop(dropTooLarge, 1, fmt.Errorf("event %s is %d bytes, more than a batch may hold (%d)", ev.ID, len(p), e.maxEvent))
			continue
		}
		payloads = append(payloads, p)
	}
	n, err := e.disk.Append(payloads)
	switch {
	case errors.Is(err, diskqueue.ErrFull):
		e.drop(dropDiskFull, len(payloads)-n, err)
	case err != nil:
		e.drop(dropWriteError, len(payloads)-n, err)
	}
	e.updateDiskGauges()
}

// drop counts lost events and logs, at most every few seconds per reason.
func (e *Emitter) drop(reason string, n int, err error) {
	if n <= 0 {
		return
	}
	e.metrics.dropped.WithLabelValues(reason).Add(float64(n))
	if ok, held := e.logs.allow("drop " + reason); ok {
		attrs := []any{"reason", reason, "events", n, "similarSuppressed", held}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		e.logger.Warn("dropping trail events", attrs...)
	}
}

func (e *Emitter) updateDiskGauges() {
	records, pending, onDisk := e.disk.Stats()
	e.metrics.queueEvents.WithLabelValues("disk").Set(float64(records))
	e.metrics.queueBytes.Set(float64(pending))
	e.metrics.diskBytes.Set(float64(onDisk))
}

// Close stops accepting events, writes what is in memory to disk, and stops
// delivering; what was not delivered yet is sent by the next emitter on the
// same queue directory. If ctx ends first, events still in memory are lost.
func (e *Emitter) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.memory.close()
		select {
		case <-e.writerDone:
		case <-ctx.Done():
			e.closeErr = fmt.Errorf("flush trail events to disk: %w (%d events not written)", ctx.Err(), e.memory.len())
		}
		e.stopShipper()
		<-e.shipperDone
		e.closeErr = errors.Join(e.closeErr, e.disk.Close())
	})
	return e.closeErr
}
