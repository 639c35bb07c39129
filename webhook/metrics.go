package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the webhook's Prometheus collectors, registered on their own registry.
type Metrics struct {
	Registry *prometheus.Registry

	requests       *prometheus.CounterVec
	requestTime    *prometheus.HistogramVec
	evaluationTime *prometheus.HistogramVec
	violations     *prometheus.CounterVec
	errors         *prometheus.CounterVec
	inFlight       prometheus.Gauge
	reloads        *prometheus.CounterVec
	auditDropped   *prometheus.CounterVec
}

// Latency buckets from 100µs to 10s: admission answers in milliseconds, and the API
// server gives up at its webhook timeout.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewMetrics creates and registers the collectors, with Go and process metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_admission_requests_total",
			Help: "Admission requests answered, by endpoint, operation, kind and decision (allowed, denied, warned, mutated, exempt, error).",
		}, []string{"endpoint", "operation", "kind", "decision"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bailiff_admission_request_duration_seconds",
			Help:    "Time to answer an admission request, from body read to response written.",
			Buckets: latencyBuckets,
		}, []string{"endpoint"}),
		evaluationTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bailiff_policy_evaluation_duration_seconds",
			Help:    "Time spent evaluating policies for one admission request.",
			Buckets: latencyBuckets,
		}, []string{"endpoint"}),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_policy_violations_total",
			Help: "Policy violations found at admission, by policy id and effective enforcement.",
		}, []string{"policy", "enforcement"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_admission_errors_total",
			Help: "Admission requests that could not be evaluated normally, by endpoint and reason (bad_request, evaluation, timeout, panic, too_large).",
		}, []string{"endpoint", "reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bailiff_admission_in_flight_requests",
			Help: "Admission requests being answered now.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_policy_reloads_total",
			Help: "Policy and configuration reloads, by result (success, failure).",
		}, []string{"result"}),
		auditDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_admission_audit_dropped_total",
			Help: "Admission decisions not handed to the audit trail, by reason (queue_full: the trail fell behind; closed: answered during shutdown; panic: the recorder failed).",
		}, []string{"reason"}),
	}
	m.Registry.MustRegister(m.requests, m.requestTime, m.evaluationTime, m.violations, m.errors, m.inFlight, m.reloads, m.auditDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Reloaded counts a reload.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
	} else {
		m.reloads.WithLabelValues("failure").Inc()
	}
}
