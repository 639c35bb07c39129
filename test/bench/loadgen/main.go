// Command loadgen drives a running bailiff webhook with a corpus of real AdmissionReviews
// (mixed kinds, about a fifth violating) over HTTPS with keep-alive, at a constant
// request rate (open loop: requests leave on schedule whether or not earlier ones have
// answered), and reports latency percentiles, errors and the webhook's peak RSS. With
// -peak it steps the rate up to find the highest it sustains within a p99 budget. It
// also reports the engine's own evaluation time for the same corpus, so the cost of
// HTTP, TLS and JSON is visible.
//
// With -compare-trail it starts the webhooks itself (-bailiff names the binary): one
// without the audit trail and one recording every decision to a local bailiff server
// (SQLite), driven in turn at -rate, and reports both runs and the events' delivery.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/test/bench/corpus"
	"github.com/bailiff/bailiff/webhook"
)

func main() {
	url := flag.String("url", "https://127.0.0.1:8443/validate", "webhook endpoint")
	caFile := flag.String("ca", "", "CA certificate of the webhook")
	rate := flag.Int("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 60*time.Second, "how long to send at -rate")
	peak := flag.Bool("peak", false, "after the run, step the rate up to find the peak sustained within -peak-p99")
	peakP99 := flag.Duration("peak-p99", 20*time.Millisecond, "p99 budget of the peak search")
	stepDuration := flag.Duration("step", 10*time.Second, "duration of each peak-search step")
	pid := flag.Int("pid", 0, "webhook process id, to report its peak RSS")
	configFile := flag.String("config", "test/demo/config.yaml", "configuration the webhook runs with (for the engine comparison)")
	size := flag.Int("corpus", 1000, "distinct AdmissionReviews in the corpus")
	compare := flag.Bool("compare-trail", false, "start the webhook without and then with the audit trail (to a local bailiff server), drive each at -rate, and compare")
	bailiff := flag.String("bailiff", "bin/bailiff", "the bailiff binary, for -compare-trail")
	trailFlags := flag.String("trail-flags", "", "more flags for the webhook with the trail, for -compare-trail (e.g. \"--trail-batch-delay 0\")")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	if *compare {
		if err := compareTrail(*bailiff, *configFile, *rate, *duration, *size, strings.Fields(*trailFlags)); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}

	if err := run(*url, *caFile, *rate, *duration, *peak, *peakP99, *stepDuration, *pid, *configFile, *size); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(url, caFile string, rate int, duration time.Duration, peak bool, peakP99, step time.Duration, pid int, configFile string, size int) error {
	reviews, err := buildCorpus(size)
	if err != nil {
		return err
	}
	if err := engineTime(configFile, reviews); err != nil {
		return err
	}
	tlsConfig, err := trusting(caFile)
	if err != nil {
		return err
	}
	s, err := newSender(url, tlsConfig, reviews)
	if err != nil {
		return err
	}
	defer s.close()
	// Warm up connections and the webhook's caches.
	warm := drive(s, 200, 2*time.Second)
	if warm.errors > 0 {
		return fmt.Errorf("warm-up: %d of %d requests failed: %s", warm.errors, warm.sent, warm.firstError)
	}
	self0, webhook0 := cpuTime(os.Getpid()), cpuTime(pid)
	res := drive(s, rate, duration)
	fmt.Printf("steady: %s\n", res)
	perRequest := func(d time.Duration) time.Duration { return (d / time.Duration(res.sent)).Round(time.Microsecond) }
	if pid > 0 {
		fmt.Printf("CPU per request: webhook %s, load generator %s\n", perRequest(cpuTime(pid)-webhook0), perRequest(cpuTime(os.Getpid())-self0))
	} else {
		fmt.Printf("CPU per request: load generator %s\n", perRequest(cpuTime(os.Getpid())-self0))
	}
	if pid > 0 {
		fmt.Printf("webhook peak RSS: %s\n", peakRSS(pid))
	}
	if peak {
		best := 0
		for _, r := range []int{1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000} {
			res := drive(s, r, step)
			ok := res.errors == 0 && res.percentile(99) <= peakP99 && res.achieved() >= 0.98*float64(r)
			fmt.Printf("peak step %5d/s: %s ok=%v\n", r, res, ok)
			if !ok {
				break
			}
			best = r
		}
		fmt.Printf("peak sustained rate within p99 %s: %d requests/s\n", peakP99, best)
		if pid > 0 {
			fmt.Printf("webhook peak RSS: %s\n", peakRSS(pid))
		}
	}
	return nil
}

// buildCorpus turns the benchmark manifests into AdmissionReview CREATE requests.
func buildCorpus(n int) ([][]byte, error) {
	reviews := make([][]byte, n)
	for i := range n {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(corpus.Object(i)), &obj); err != nil {
			return nil, err
		}
		req, err := input.ForObject(obj)
		if err != nil {
			return nil, err
		}
		apiVersion, _ := obj["apiVersion"].(string)
		group, version, found := strings.Cut(apiVersion, "/")
		if !found {
			group, version = "", apiVersion
		}
		body, err := json.Marshal(map[string]any{
			"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
			"request": map[string]any{
				"uid": fmt.Sprintf("load-%d", i), "operation": "CREATE", "namespace": req.Namespace, "name": req.Name,
				"kind":     map[string]string{"group": group, "version": version, "kind": req.Kind.Kind},
				"resource": map[string]string{"group": group, "version": version, "resource": strings.ToLower(req.Kind.Kind) + "s"},
				"userInfo": map[string]any{"username": "loadgen", "groups": []string{"system:authenticated"}},
				"object":   obj,
			},
		})
		if err != nil {
			return nil, err
		}
		reviews[i] = body
	}
	return reviews, nil
}

// engineTime evaluates the corpus with the engine in this process, one goroutine, as
// the webhook's /validate does once the AdmissionReview is decoded (input built, then
// validated), and prints the per-object times; and the decoding alone.
func engineTime(configFile string, reviews [][]byte) error {
	cfg, err := config.Load(configFile)
	if err != nil {
		return err
	}
	ctx := context.Background()
	e, err := policy.New(ctx, policy.Options{Config: cfg, SkipTests: true})
	if err != nil {
		return err
	}
	var decodeTimes, times []time.Duration
	for round := range 3 {
		for _, body := range reviews {
			start := time.Now()
			review, err := input.DecodeAdmissionReview(body)
			if err != nil {
				return err
			}
			decoded := time.Now()
			req := review.Input
			c := input.Context{Mode: input.ModeAdmission, Images: webhook.UnscannedWithoutScanner(ctx, req, input.ContainerImages(req.Object, req.Kind.Kind))}
			in, err := input.New(req, c)
			if err != nil {
				return err
			}
			if _, err := e.Evaluate(ctx, in); err != nil {
				return err
			}
			if round > 0 { // the first round warms caches
				decodeTimes = append(decodeTimes, decoded.Sub(start))
				times = append(times, time.Since(decoded))
			}
		}
	}
	d, r := result{latencies: decodeTimes}, result{latencies: times}
	fmt.Printf("AdmissionReview decoding only (one goroutine): mean %s p50 %s p99 %s\n", d.mean(), d.percentile(50), d.percentile(99))
	fmt.Printf("engine only (input built, validated; one goroutine): mean %s p50 %s p99 %s over %d evaluations\n",
		r.mean(), r.percentile(50), r.percentile(99), len(times))
	return nil
}

// trusting is a TLS client configuration that trusts the CA in caFile (the system's
// roots when caFile is empty).
func trusting(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return &tls.Config{}, nil
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool}, nil
}

func newClient(caFile string) (*http.Client, error) {
	tlsConfig, err := trusting(caFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     tlsConfig,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
		},
	}, nil
}

type result struct {
	latencies  []time.Duration
	sent       int64
	errors     int64
	firstError string
	elapsed    time.Duration
}

func (r result) achieved() float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }

func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	sorted := slices.Clone(r.latencies)
	slices.Sort(sorted)
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

func (r result) mean() time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	var sum time.Duration
	for _, l := range r.latencies {
		sum += l
	}
	return sum / time.Duration(len(r.latencies))
}

func (r result) String() string {
	return fmt.Sprintf("%d requests in %s (%.0f/s), errors %d, p50 %s p90 %s p99 %s max %s",
		r.sent, r.elapsed.Round(time.Millisecond), r.achieved(), r.errors,
		r.percentile(50).Round(time.Microsecond), r.percentile(90).Round(time.Microsecond),
		r.percentile(99).Round(time.Microsecond), r.percentile(100).Round(time.Microsecond))
}

// peakRSS reads a process's high-water resident set size.
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "unknown"
}
