package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the server's Prometheus collectors, registered on their own registry.
type Metrics struct {
	Registry *prometheus.Registry

	requests       *prometheus.CounterVec
	requestTime    *prometheus.HistogramVec
	events         *prometheus.CounterVec
	forbidden      prometheus.Counter
	authFailures   prometheus.Counter
	storeConnected prometheus.Gauge
}

// NewMetrics creates and registers the collectors, with Go and process metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_server_requests_total",
			Help: "API requests answered, by route and status code.",
		}, []string{"route", "code"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bailiff_server_request_duration_seconds",
			Help:    "Time to answer an API request, by route.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bailiff_server_ingested_events_total",
			Help: "Trail events received from clusters, by result (stored, duplicate).",
		}, []string{"result"}),
		forbidden: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bailiff_server_forbidden_requests_total",
			Help: "Requests with a valid token refused for lack of permission; each is also recorded in the _server trail.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bailiff_server_authentication_failures_total",
			Help: "Requests with a missing or unknown bearer token.",
		}),
		storeConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bailiff_server_store_connected",
			Help: "1 once the server has opened its store.",
		}),
	}
	m.Registry.MustRegister(m.requests, m.requestTime, m.events, m.forbidden, m.authFailures, m.storeConnected,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// instrument counts and times the requests of one route.
func (m *Metrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.requestTime.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
