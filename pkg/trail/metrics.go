package trail

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons an event is dropped, the values of the reason label.
const (
	dropMemoryFull = "memory_full" // the in-memory queue was full
	dropDiskFull   = "disk_full"   // the disk queue reached its budget
	dropInvalid    = "invalid"     // the event can never be accepted by the server
	dropTooLarge   = "too_large"   // the event is larger than a batch may be
	dropWriteError = "write_error" // the disk queue could not be written
	dropClosed     = "closed"      // emitted after Close
	dropRejected   = "rejected"    // the server refused the event itself (4xx)
)

// emitterMetrics are the emitter's Prometheus collectors.
type emitterMetrics struct {
	emitted       prometheus.Counter
	dropped       *prometheus.CounterVec
	queueEvents   *prometheus.GaugeVec
	memoryDepth   prometheus.Gauge // queueEvents{queue="memory"}, looked up once for Emit
	queueBytes    prometheus.Gauge
	diskBytes     prometheus.Gauge
	shippedEvents *prometheus.CounterVec
	batches       prometheus.Counter
	shipErrors    *prometheus.CounterVec
}

func newEmitterMetrics(reg prometheus.Registerer) (*emitterMetrics, error) {
	m := &emitterMetrics{
		emitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bailiff_trail_events_emitted_total",
			Help: "Trail events accepted into the in-memory queue.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_trail_events_dropped_total",
			Help: "Trail events lost, by reason (memory_full, disk_full, invalid, too_large, write_error, closed, rejected).",
		}, []string{"reason"}),
		queueEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bailiff_trail_queue_events",
			Help: "Trail events waiting, by queue (memory, disk).",
		}, []string{"queue"}),
		queueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bailiff_trail_queue_bytes",
			Help: "Bytes of trail events in the disk queue not yet acknowledged by the server.",
		}),
		diskBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bailiff_trail_queue_disk_bytes",
			Help: "Bytes the disk queue's files take, counted against its budget.",
		}),
		shippedEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_trail_shipped_events_total",
			Help: "Trail events the server acknowledged, by result (stored, duplicate).",
		}, []string{"result"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bailiff_trail_shipped_batches_total",
			Help: "Batches of trail events the server acknowledged.",
		}),
		shipErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_trail_ship_errors_total",
			Help: "Failed deliveries of a batch, by reason (transport, server, unauthorized, rejected).",
		}, []string{"reason"}),
	}
	var err error
	if reg != nil {
		err = m.register(reg)
	}
	m.memoryDepth = m.queueEvents.WithLabelValues("memory")
	return m, err
}

// register puts the collectors on reg, adopting any already there.
func (m *emitterMetrics) register(reg prometheus.Registerer) error {
	var err error
	m.emitted = register(reg, m.emitted, &err)
	m.dropped = register(reg, m.dropped, &err)
	m.queueEvents = register(reg, m.queueEvents, &err)
	m.queueBytes = register(reg, m.queueBytes, &err)
	m.diskBytes = register(reg, m.diskBytes, &err)
	m.shippedEvents = register(reg, m.shippedEvents, &err)
	m.batches = register(reg, m.batches, &err)
	m.shipErrors = register(reg, m.shipErrors, &err)
	return err
}

// register registers c, or returns the collector already registered under its
// name, so an emitter re-created in the same process keeps its series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	*errp = errors.Join(*errp, fmt.Errorf("register trail metrics: %w", err))
	return c
}

// throttle lets a log line through once per interval per key and counts the
// ones it held back, so a flood of drops is reported without flooding the log.
type throttle struct {
	every time.Duration

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func newThrottle(every time.Duration) *throttle {
	return &throttle{every: every, last: map[string]time.Time{}, held: map[string]int{}}
}

// allow reports whether to log now, and how many were held back since the last time.
func (t *throttle) allow(key string) (bool, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if last, ok := t.last[key]; ok && now.Sub(last) < t.every {
		t.held[key]++
		return false, 0
	}
	held := t.held[key]
	t.last[key], t.held[key] = now, 0
	return true, held
}
