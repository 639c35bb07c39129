package audit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
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
	req, keys := a.sink.take()
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
	if req, _ := a.sink.take(); len(req.Deletions) != 1 || len(req.Results) != 0 {
		t.Fatalf("first batch %+v: want the deletion alone", req)
	}
	if req, _ := a.sink.take(); len(req.Results) != 1 || len(req.Deletions) != 0 {
		t.Fatalf("second batch %+v: want the result", req)
	}
}

// fakeSink fails its first writes, then records batches.
type fakeSink struct {
	mu       sync.Mutex
	failures int
	reject   bool
	batches  []results.Request
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
