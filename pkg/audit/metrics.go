package audit

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the auditor's Prometheus collectors.
type Metrics struct {
	evaluated     *prometheus.CounterVec
	sweepDuration *prometheus.HistogramVec
	lastSweep     prometheus.Gauge
	objects       prometheus.Gauge
	violations    *prometheus.GaugeVec
	sinkWrites    *prometheus.CounterVec
	queuedBatches prometheus.Gauge
	queueFull     prometheus.Counter
	reportWrites  *prometheus.CounterVec
	rechecks      prometheus.Counter
	scanDBUpdated prometheus.Gauge
}

// NewMetrics creates the collectors and registers them with reg (nil: none).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		evaluated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_audit_objects_evaluated_total",
			Help: "Objects evaluated, by kind and outcome: pass, fail, error, or skipped (exempt namespace, template copy).",
		}, []string{"kind", "outcome"}),
		sweepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bailiff_audit_sweep_duration_seconds",
			Help:    "Duration of full sweeps: phase evaluate (every object evaluated) and total (every result delivered to the sink too).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"phase"}),
		lastSweep: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bailiff_audit_last_sweep_timestamp_seconds",
			Help: "When the last full sweep completed, as a Unix time.",
		}),
		objects: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bailiff_audit_objects",
			Help: "Objects the auditor holds a result for.",
		}),
		violations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bailiff_audit_violations",
			Help: "Violations reported now, by policy and severity.",
		}, []string{"policy", "severity"}),
		sinkWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_audit_sink_writes_total",
			Help: "Batches of results written to the store or server, by outcome (ok, retry, rejected), and objects whose result alone is too large to send (too_large).",
		}, []string{"outcome"}),
		queuedBatches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bailiff_audit_queue_batches",
			Help: "Batches of results waiting in the audit queue on disk (--queue-dir) for the store or server.",
		}),
		queueFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bailiff_audit_queue_full_total",
			Help: "Batches of results that did not fit in the audit queue's disk budget; their objects stay due in memory and are queued once there is room.",
		}),
		reportWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_audit_policyreport_writes_total",
			Help: "PolicyReport and ClusterPolicyReport writes, by outcome (applied, deleted, error).",
		}, []string{"outcome"}),
		rechecks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bailiff_audit_rechecks_total",
			Help: "Objects queued to be evaluated again because their image facts were provisional (a scan pending, a result from an older vulnerability database).",
		}),
		scanDBUpdated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bailiff_audit_scanner_db_updated_timestamp_seconds",
			Help: "When the scanner's vulnerability database was published, as the auditor last saw it, as a Unix time.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.evaluated, m.sweepDuration, m.lastSweep, m.objects, m.violations, m.sinkWrites, m.queuedBatches, m.queueFull, m.reportWrites, m.rechecks, m.scanDBUpdated} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// countViolations moves the violations gauge from an object's old reported
// violations to its new ones.
func (m *Metrics) countViolations(old, new []policyViolationRef) {
	for _, v := range old {
		m.violations.WithLabelValues(v.policy, v.severity).Dec()
	}
	for _, v := range new {
		m.violations.WithLabelValues(v.policy, v.severity).Inc()
	}
}

type policyViolationRef struct{ policy, severity string }
