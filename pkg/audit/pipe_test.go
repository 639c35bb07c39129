package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/store"
)

// evaluated records an evaluated object with violations of the given messages as due.
func evaluated(a *Auditor, name, uid string, msgs ...string) objectKey {
	k := objectKey{namespace: "shop", name: name}
	var vs []policy.Violation
	for _, m := range msgs {
		vs = append(vs, policy.Violation{Policy: "BLF-A", Message: m})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.states[k] = &objectState{ref: store.ObjectRef{UID: uid, APIVersion: "v1", Kind: "Pod", Name: name}, violations: vs,
		evaluated: true, evaluatedAt: evaluatedAt, queued: 7, known: true}
	a.sink.markDue(k)
	return k
}

func TestABatchSendsEachObjectsLatestResultAfterItsDeletions(t *testing.T) {
	a := testAuditor(&fakeSink{})
	evaluated(a, "a", "uid-a", "old")
	evaluated(a, "b", "uid-b")
	evaluated(a, "a", "uid-a", "new")
	c := evaluated(a, "c", "uid-c", "x")
	a.mu.Lock()
	a.sink.markDeleted(c, results.Deletion{Object: store.ObjectRef{UID: "uid-c", APIVersion: "v1", Kind: "Pod", Name: "c"}, DeletedAt: evaluatedAt})
	a.mu.Unlock()
	h := a.sink.take()
	req, keys := h.req, h.keys
	if len(req.Results) != 2 || req.Results[0].Violations[0].Message != "new" || len(keys) != 2 || len(req.Deletions) != 1 {
		t.Fatalf("batch %+v", req)
	}
	// The object is evaluated again under the same UID before its deletion
	// went out (its namespace stopped being exempt): the result must follow
	// the deletion, in a later batch, or it would be forgotten after it.
	a.mu.Lock()
	a.sink.markDeleted(c, results.Deletion{Object: store.ObjectRef{UID: "uid-c", APIVersion: "v1", Kind: "Pod", Name: "c"}, DeletedAt: evaluatedAt})
	a.mu.Unlock()
	evaluated(a, "c", "uid-c", "x")
	if req := a.sink.take().req; len(req.Deletions) != 1 || len(req.Results) != 0 {
		t.Fatalf("first batch %+v: want the deletion alone", req)
	}
	if req := a.sink.take().req; len(req.Results) != 1 || len(req.Deletions) != 0 {
		t.Fatalf("second batch %+v: want the result", req)
	}
}

// fakeSink fails its first writes, and all while down, then records batches.
type fakeSink struct {
	mu       sync.Mutex
	failures int
	down     bool
	reject   bool
	batches  []results.Request
}

func (f *fakeSink) set(fn func(*fakeSink)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeSink) OpenFindings(context.Context, string, func([]store.Finding) error) error {
	return nil
}
func (f *fakeSink) Name() string { return "fake" }
func (f *fakeSink) Write(_ context.Context, b results.Request) (results.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reject {
		return results.Response{}, &RejectedError{Err: errors.New("bad batch")}
	}
	if f.down {
		return results.Response{}, errors.New("server unreachable")
	}
	if f.failures > 0 {
		f.failures--
		return results.Response{}, errors.New("store unreachable")
	}
	f.batches = append(f.batches, b)
	return results.Response{}, nil
}

func testAuditor(sink Sink) *Auditor {
	a := &Auditor{opts: Options{Sink: sink, Now: time.Now}, cluster: "prod", states: map[objectKey]*objectState{}, byNamespace: map[string]map[objectKey]bool{}}
	a.metrics, _ = NewMetrics(nil)
	a.log = discardLogger()
	a.sink = newSinkPipe(a)
	a.sink.retryMin, a.sink.retryMax = time.Millisecond, 5*time.Millisecond
	return a
}

func TestTheSinkPipeRetriesUntilTheSinkTakesTheBatch(t *testing.T) {
	sink := &fakeSink{failures: 3}
	a := testAuditor(sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.sink.run(ctx)
	k := evaluated(a, "a", "uid-a", "x")
	a.mu.Lock()
	a.sink.markDeleted(objectKey{name: "b"}, results.Deletion{Object: store.ObjectRef{UID: "uid-b"}, DeletedAt: evaluatedAt})
	a.mu.Unlock()
	if err := a.sink.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(sink.batches) != 1 || len(sink.batches[0].Results) != 1 || len(sink.batches[0].Deletions) != 1 || sink.batches[0].Cluster != "prod" {
		t.Fatalf("batches %+v", sink.batches)
	}
	if a.states[k].syncedAt.IsZero() {
		t.Fatal("a delivered result must be recorded as synced")
	}
}

func TestARejectedBatchIsSentAgainAfterTheNextEvaluation(t *testing.T) {
	a := testAuditor(&fakeSink{reject: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.sink.run(ctx)
	k := evaluated(a, "a", "uid-a", "x")
	if err := a.sink.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if a.states[k].queued != 0 {
		t.Fatal("a refused result must not count as handed over")
	}
}

// counterValue reads a counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// longMessages are n violation messages of size bytes each.
func longMessages(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%03d %s", i, strings.Repeat("x", size-4))
	}
	return out
}

func TestBatchesStayWithinTheByteLimit(t *testing.T) {
	a := testAuditor(&fakeSink{})
	a.sink.maxBytes = 4096
	want := map[string]bool{}
	for i := range 20 {
		uid := fmt.Sprintf("uid-%02d", i)
		evaluated(a, fmt.Sprintf("pod-%02d", i), uid, longMessages(3, 300)...)
		want["result "+uid] = true
	}
	for i := range 5 {
		uid := fmt.Sprintf("gone-%d", i)
		a.mu.Lock()
		a.sink.markDeleted(objectKey{name: uid}, results.Deletion{Object: store.ObjectRef{UID: uid, APIVersion: "v1", Kind: "Pod", Name: uid}, DeletedAt: evaluatedAt})
		a.mu.Unlock()
		want["deletion "+uid] = true
	}
	got := map[string]bool{}
	batches := 0
	for {
		req := a.sink.take().req
		if req.Len() == 0 {
			break
		}
		batches++
		body, _ := json.Marshal(req)
		if len(body) > a.sink.maxBytes {
			t.Errorf("batch %d of %d items encodes to %d bytes, more than %d", batches, req.Len(), len(body), a.sink.maxBytes)
		}
		for _, r := range req.Results {
			got["result "+r.Object.UID] = true
		}
		for _, d := range req.Deletions {
			got["deletion "+d.Object.UID] = true
		}
	}
	if batches < 5 || !maps.Equal(got, want) {
		t.Fatalf("%d batches sent %v\nwant all of %v", batches, got, want)
	}
}

func TestAResultTooLargeForOneRequestIsReportedAndTheRestDelivered(t *testing.T) {
	sink := &fakeSink{}
	a := testAuditor(sink)
	a.sink.maxBytes = 4096
	var logs strings.Builder
	a.log = slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.sink.run(ctx)
	evaluated(a, "small-a", "uid-small-a", "x")
	huge := evaluated(a, "huge", "uid-huge", longMessages(10, 500)...)
	evaluated(a, "small-b", "uid-small-b", "y")
	if err := a.sink.flush(ctx); err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, b := range sink.batches {
		for _, r := range b.Results {
			sent = append(sent, r.Object.UID)
		}
	}
	if !slices.Equal(sent, []string{"uid-small-a", "uid-small-b"}) {
		t.Fatalf("sent %v, want the small objects", sent)
	}
	if n := counterValue(t, a.metrics.sinkWrites.WithLabelValues("too_large")); n != 1 {
		t.Errorf("too_large counted %v times, want 1", n)
	}
	if line := logs.String(); !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "name=huge") || !strings.Contains(line, "maxBytes=4096") {
		t.Errorf("the error does not name the object and the limit:\n%s", line)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.states[huge].queued != 0 || a.sink.isDue[huge] {
		t.Error("an object too large to send must be sent again after its next evaluation, not kept due")
	}
}

func TestExemptionUsesAreSentOnceUntilTheyChange(t *testing.T) {
	sink := &fakeSink{}
	a := testAuditor(sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.sink.run(ctx)
	exemption := func(policy string) config.Exemption {
		return config.Exemption{Policy: policy, Namespace: "shop", Owner: "team-a", Reason: "migration",
			Expires: config.Date{Time: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)}}
	}
	exempted := func(id, msg string) policy.ExemptedViolation {
		return policy.ExemptedViolation{Violation: policy.Violation{Policy: id, Message: msg}, Exemption: exemption(id)}
	}
	k := evaluated(a, "a", "uid-a", "x")
	send := func(ex ...policy.ExemptedViolation) results.ObjectResult {
		t.Helper()
		a.mu.Lock()
		a.states[k].exempted = ex
		a.sink.markDue(k)
		a.mu.Unlock()
		before := len(sink.batches)
		if err := a.sink.flush(ctx); err != nil {
			t.Fatal(err)
		}
		if len(sink.batches) != before+1 {
			t.Fatalf("want one more batch, have %d after %d", len(sink.batches), before)
		}
		return sink.batches[len(sink.batches)-1].Results[0]
	}
	policies := func(r results.ObjectResult) string {
		var out []string
		for _, u := range r.Exemptions {
			for _, v := range u.Violations {
				out = append(out, u.Exemption.Policy+":"+v.Message)
			}
		}
		return strings.Join(out, " ")
	}

	if got := policies(send(exempted("BLF-C", "one"))); got != "BLF-C:one" {
		t.Fatalf("first result's exemption uses = %q", got)
	}
	if got := policies(send(exempted("BLF-C", "one"))); got != "" {
		t.Fatalf("a use the sink recorded must not be sent again, got %q", got)
	}
	if got := policies(send(exempted("BLF-C", "one"), exempted("BLF-D", "two"))); got != "BLF-D:two" {
		t.Fatalf("only the new exemption's use is sent, got %q", got)
	}
	if got := policies(send(exempted("BLF-C", "one"), exempted("BLF-C", "three"), exempted("BLF-D", "two"))); got != "BLF-C:one BLF-C:three" {
		t.Fatalf("an exemption excusing another violation is used anew, got %q", got)
	}
	send() // the exemptions stop applying (expired, or the object was fixed)
	if got := policies(send(exempted("BLF-D", "two"))); got != "BLF-D:two" {
		t.Fatalf("a use that comes back is recorded again, got %q", got)
	}

	vs := []store.Violation{{PolicyID: "BLF-A", Message: "x"}}
	if sendFingerprint(vs, nil) == sendFingerprint(vs, []policy.ExemptedViolation{exempted("BLF-C", "one")}) {
		t.Error("a new exemption use must make the object's result worth sending")
	}
}
