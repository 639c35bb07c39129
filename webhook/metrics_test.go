package webhook

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/input"
)

func TestMetricsCountEveryAnswerByItsLabels(t *testing.T) {
	timedOut := func(o *Options) { o.Timeout = time.Nanosecond }
	panicking := func(o *Options) {
		o.Images = func(context.Context, input.Request, []string) map[string]input.Image { panic("boom") }
	}
	updatedConfigMap := request{op: "UPDATE", namespace: "shop", kind: "ConfigMap", version: "v1", object: configMap}
	tooLarge := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Pod"},"object":{"a":"` +
		strings.Repeat("x", MaxRequestBytes) + `"}}}`
	// One engine for every case, the demo set with the test policies: they act on
	// labelled ConfigMaps only. Each case has its own handler, so its own metrics.
	engine := engineWithTestPolicies(t, nil)
	tests := []struct {
		name     string
		opts     func(*Options) // nil: the defaults
		endpoint func(*Handler) http.Handler
		body     string
		// requests and errors are every series of their family; violations are series
		// that must be counted (others may be too), nil when none may be.
		requests, errors, violations map[string]float64
		// requestSamples and evaluationSamples are the histograms' sample counts by endpoint.
		requestSamples, evaluationSamples map[string]float64
	}{
		{
			name: "a compliant object is counted as allowed", endpoint: (*Handler).Validate,
			body:              reviewOf(configMapRequest(configMap)),
			requests:          map[string]float64{answered("validate", "CREATE", "ConfigMap", "allowed"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("validate"): 1},
		},
		{
			name: "an UPDATE is counted under its operation", endpoint: (*Handler).Validate,
			body:              reviewOf(updatedConfigMap),
			requests:          map[string]float64{answered("validate", "UPDATE", "ConfigMap", "allowed"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("validate"): 1},
		},
		{
			name: "a DELETE is counted under its operation", endpoint: (*Handler).Validate,
			body:              review("DELETE", "shop", "", privilegedPod),
			requests:          map[string]float64{answered("validate", "DELETE", "Pod", "allowed"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("validate"): 1},
		},
		{
			name: "a denial is counted as denied, each violation by policy and enforcement", endpoint: (*Handler).Validate,
			body:              review("CREATE", "shop", privilegedPod, ""),
			requests:          map[string]float64{answered("validate", "CREATE", "Pod", "denied"): 1},
			violations:        map[string]float64{violated("BLF-IMG-001", "deny"): 1, violated("BLF-PSS-007", "deny"): 1, violated("BLF-IMG-005", "warn"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("validate"): 1},
		},
		{
			name: "warnings alone are counted as warned", endpoint: (*Handler).Validate,
			body:              review("CREATE", "shop", compliantPod, ""),
			requests:          map[string]float64{answered("validate", "CREATE", "Pod", "warned"): 1},
			violations:        map[string]float64{violated("BLF-IMG-005", "warn"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("validate"): 1},
		},
		{
			name: "an exempt namespace is counted as exempt and not evaluated", endpoint: (*Handler).Validate,
			body:              review("CREATE", "kube-system", privilegedPod, ""),
			requests:          map[string]float64{answered("validate", "CREATE", "Pod", "exempt"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{},
		},
		{
			name: "a patch is counted as mutated", endpoint: (*Handler).Mutate,
			body:              review("CREATE", "shop", noResourcesPod, ""),
			requests:          map[string]float64{answered("mutate", "CREATE", "Pod", "mutated"): 1},
			requestSamples:    map[string]float64{onEndpoint("mutate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("mutate"): 1},
		},
		{
			name: "a mutation with nothing to change is counted as allowed", endpoint: (*Handler).Mutate,
			body:              review("CREATE", "shop", compliantPod, ""),
			requests:          map[string]float64{answered("mutate", "CREATE", "Pod", "allowed"): 1},
			requestSamples:    map[string]float64{onEndpoint("mutate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("mutate"): 1},
		},
		{
			name: "a mutation in an exempt namespace is counted as exempt", endpoint: (*Handler).Mutate,
			body:              review("CREATE", "kube-system", noResourcesPod, ""),
			requests:          map[string]float64{answered("mutate", "CREATE", "Pod", "exempt"): 1},
			requestSamples:    map[string]float64{onEndpoint("mutate"): 1},
			evaluationSamples: map[string]float64{},
		},
		{
			name: "a validation timeout is counted as an error with reason timeout", opts: timedOut, endpoint: (*Handler).Validate,
			body:              review("CREATE", "shop", compliantPod, ""),
			requests:          map[string]float64{answered("validate", "CREATE", "Pod", "error"): 1},
			errors:            map[string]float64{failedBecause("validate", "timeout"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("validate"): 1},
		},
		{
			name: "a mutation timeout is counted as an error with reason timeout", opts: timedOut, endpoint: (*Handler).Mutate,
			body:              review("CREATE", "shop", noResourcesPod, ""),
			requests:          map[string]float64{answered("mutate", "CREATE", "Pod", "error"): 1},
			errors:            map[string]float64{failedBecause("mutate", "timeout"): 1},
			requestSamples:    map[string]float64{onEndpoint("mutate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("mutate"): 1},
		},
		{
			name: "a validation that errors is counted as an error with reason evaluation", endpoint: (*Handler).Validate,
			body:              reviewOf(configMapRequest(labelledConfigMap("conflict", "yes"))),
			requests:          map[string]float64{answered("validate", "CREATE", "ConfigMap", "error"): 1},
			errors:            map[string]float64{failedBecause("validate", "evaluation"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("validate"): 1},
		},
		{
			name: "a mutation that errors is counted as an error with reason evaluation", endpoint: (*Handler).Mutate,
			body:              reviewOf(configMapRequest(labelledConfigMap("conflict", "yes"))),
			requests:          map[string]float64{answered("mutate", "CREATE", "ConfigMap", "error"): 1},
			errors:            map[string]float64{failedBecause("mutate", "evaluation"): 1},
			requestSamples:    map[string]float64{onEndpoint("mutate"): 1},
			evaluationSamples: map[string]float64{onEndpoint("mutate"): 1},
		},
		{
			name: "a panic is counted with reason panic and answers nothing", opts: panicking, endpoint: (*Handler).Validate,
			body:              review("CREATE", "shop", compliantPod, ""),
			errors:            map[string]float64{failedBecause("validate", "panic"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{},
		},
		{
			name: "a body that is not an AdmissionReview is counted with reason bad_request", endpoint: (*Handler).Validate,
			body:              "garbage",
			errors:            map[string]float64{failedBecause("validate", "bad_request"): 1},
			requestSamples:    map[string]float64{onEndpoint("validate"): 1},
			evaluationSamples: map[string]float64{},
		},
		{
			name: "a body over the limit is counted with reason too_large", endpoint: (*Handler).Mutate,
			body:              tooLarge,
			errors:            map[string]float64{failedBecause("mutate", "too_large"): 1},
			requestSamples:    map[string]float64{onEndpoint("mutate"): 1},
			evaluationSamples: map[string]float64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := handlerOn(engine, tt.opts)
			post(t, tt.endpoint(h), tt.body)
			m := h.opts.Metrics
			wantSeries(t, "bailiff_admission_requests_total", samples(t, m, "bailiff_admission_requests_total"), tt.requests)
			wantSeries(t, "bailiff_admission_errors_total", samples(t, m, "bailiff_admission_errors_total"), tt.errors)
			wantSeries(t, "bailiff_admission_request_duration_seconds", samples(t, m, "bailiff_admission_request_duration_seconds"), tt.requestSamples)
			wantSeries(t, "bailiff_policy_evaluation_duration_seconds", samples(t, m, "bailiff_policy_evaluation_duration_seconds"), tt.evaluationSamples)
			violations := samples(t, m, "bailiff_policy_violations_total")
			if tt.violations == nil && len(violations) != 0 {
				t.Errorf("bailiff_policy_violations_total = %v, want none", violations)
			}
			for series, want := range tt.violations {
				if got := violations[series]; got != want {
					t.Errorf("bailiff_policy_violations_total{%s} = %v, want %v (all: %v)", series, got, want, violations)
				}
			}
			if got := samples(t, m, "bailiff_admission_in_flight_requests")[""]; got != 0 {
				t.Errorf("in flight after the answer = %v, want 0", got)
			}
		})
	}
}

// wantSeries checks that a family has exactly the series wanted, with their values.
func wantSeries(t *testing.T, family string, got, want map[string]float64) {
	t.Helper()
	if want == nil {
		want = map[string]float64{}
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s = %v, want %v", family, got, want)
	}
}

// blockingImages is an ImageLookup that holds every request until released, so a
// test can look at the webhook while requests are being answered.
type blockingImages struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingImages) lookup(_ context.Context, req input.Request, refs []string) map[string]input.Image {
	b.entered <- struct{}{}
	<-b.release
	return UnscannedWithoutScanner(context.Background(), req, refs)
}

func TestInFlightGaugeCountsTheRequestsBeingAnswered(t *testing.T) {
	blocking := &blockingImages{entered: make(chan struct{}), release: make(chan struct{})}
	h := testHandler(t, func(o *Options) { o.Images = blocking.lookup })
	inFlight := func() float64 {
		s := samples(t, h.opts.Metrics, "bailiff_admission_in_flight_requests")
		v, ok := s[""]
		if !ok {
			t.Fatalf("bailiff_admission_in_flight_requests is not registered: %v", s)
		}
		return v
	}
	if got := inFlight(); got != 0 {
		t.Fatalf("in flight before any request = %v", got)
	}
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for _, endpoint := range []http.Handler{h.Validate(), h.Mutate()} {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(review("CREATE", "shop", compliantPod, "")))
			w := httptest.NewRecorder()
			endpoint.ServeHTTP(w, r)
			codes <- w.Code
		})
	}
	<-blocking.entered
	if got := inFlight(); got < 1 {
		t.Errorf("in flight while one request is being evaluated = %v, want at least 1", got)
	}
	<-blocking.entered
	if got := inFlight(); got != 2 {
		t.Errorf("in flight while two requests are being evaluated = %v, want 2", got)
	}
	close(blocking.release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("HTTP %d, want 200", code)
		}
	}
	if got := inFlight(); got != 0 {
		t.Errorf("in flight once both are answered = %v, want 0", got)
	}
}

func TestReloadsAreCountedByResult(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("podSecurity: {level: baseline}\n")
	metrics := NewMetrics()
	_, r := watchedEngine(t, cfgFile, metrics)
	steps := []struct {
		name   string
		config string
		fails  bool
		counts map[string]float64
	}{
		{"a good change is counted as a success", "podSecurity: {level: restricted}\n", false,
			map[string]float64{seriesKey("result", "success"): 1}},
		{"an invalid configuration is counted as a failure", "podSecurity: {level: strict}\n", true,
			map[string]float64{seriesKey("result", "success"): 1, seriesKey("result", "failure"): 1}},
		{"a file that is not YAML is counted as a failure", "podSecurity: [\n", true,
			map[string]float64{seriesKey("result", "success"): 1, seriesKey("result", "failure"): 2}},
		{"a fix is counted as a success", "podSecurity: {level: baseline}\n", false,
			map[string]float64{seriesKey("result", "success"): 2, seriesKey("result", "failure"): 2}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			write(step.config)
			if err := r.Reload(context.Background()); (err != nil) != step.fails {
				t.Fatalf("reload error = %v, want failure %v", err, step.fails)
			}
			wantSeries(t, "bailiff_policy_reloads_total", samples(t, metrics, "bailiff_policy_reloads_total"), step.counts)
		})
	}
}
