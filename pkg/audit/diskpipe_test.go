package audit

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/test/poll"
)

// queuedAuditor is a testAuditor whose results go through a disk queue in dir.
func queuedAuditor(t *testing.T, sink Sink, dir string, budget int64) *Auditor {
	t.Helper()
	a := testAuditor(sink)
	a.opts.QueueDir, a.opts.QueueBudget = dir, budget
	if err := a.openQueue(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.sink.closeDisk() })
	return a
}

// runPipe runs a's pipe until the test ends or stop is called.
func runPipe(t *testing.T, a *Auditor) (ctx context.Context, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.sink.run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return ctx, stop
}

// onDisk waits until the queue holds n batches.
func onDisk(t *testing.T, a *Auditor, n int64) {
	t.Helper()
	poll.Until(t, "the queue holds the batches taken", func() bool {
		records, _, _ := a.sink.disk.Stats()
		return records == n
	})
}

// sentResults lists, in order, what the sink took of each object: "uid:message,message".
func sentResults(sink *fakeSink) []string {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var out []string
	for _, b := range sink.batches {
		for _, r := range b.Results {
			var msgs []string
			for _, v := range r.Violations {
				msgs = append(msgs, v.Message)
			}
			out = append(out, r.Object.UID+":"+strings.Join(msgs, ","))
		}
		for _, d := range b.Deletions {
			out = append(out, d.Object.UID+":deleted")
		}
	}
	return out
}

func TestEveryChangeTakenDuringASinkOutageReachesTheSinkInOrder(t *testing.T) {
	sink := &fakeSink{down: true}
	a := queuedAuditor(t, sink, t.TempDir(), 1<<20)
	ctx, _ := runPipe(t, a)

	evaluated(a, "a", "uid-a", "no limits")
	onDisk(t, a, 1)
	evaluated(a, "a", "uid-a") // fixed
	onDisk(t, a, 2)
	evaluated(a, "a", "uid-a", "no limits") // broken again
	onDisk(t, a, 3)

	sink.set(func(f *fakeSink) { f.down = false })
	if err := a.sink.flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"uid-a:no limits", "uid-a:", "uid-a:no limits"}
	if got := sentResults(sink); !slices.Equal(got, want) {
		t.Fatalf("the sink took %q, want every state in order, %q (opened, resolved, opened)", got, want)
	}
	if records, _, _ := a.sink.disk.Stats(); records != 0 {
		t.Errorf("%d batches left on disk after delivery", records)
	}
}

func TestARestartedAuditorShipsWhatTheLastRunQueuedFirst(t *testing.T) {
	dir := t.TempDir()
	down := &fakeSink{down: true}
	first := queuedAuditor(t, down, dir, 1<<20)
	_, stop := runPipe(t, first)
	evaluated(first, "a", "uid-a", "x")
	onDisk(t, first, 1)
	first.mu.Lock()
	first.sink.markDeleted(objectKey{name: "gone"}, results.Deletion{Object: store.ObjectRef{UID: "uid-gone", APIVersion: "v1", Kind: "Pod", Name: "gone"}, DeletedAt: evaluatedAt})
	first.mu.Unlock()
	onDisk(t, first, 2)
	stop()
	if err := first.sink.closeDisk(); err != nil {
		t.Fatal(err)
	}

	sink := &fakeSink{}
	second := queuedAuditor(t, sink, dir, 1<<20) // delivers the backlog before it returns
	if got, want := sentResults(sink), []string{"uid-a:x", "uid-gone:deleted"}; !slices.Equal(got, want) {
		t.Fatalf("after opening the queue the sink took %q, want the last run's %q", got, want)
	}
	ctx, _ := runPipe(t, second)
	evaluated(second, "b", "uid-b", "y")
	if err := second.sink.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := sentResults(sink), []string{"uid-a:x", "uid-gone:deleted", "uid-b:y"}; !slices.Equal(got, want) {
		t.Fatalf("the sink took %q, want %q", got, want)
	}
}

func TestAFullQueueKeepsResultsDueInMemoryUntilItHasRoom(t *testing.T) {
	// The size of a batch of one result, as the queue stores it.
	probe := testAuditor(&fakeSink{})
	evaluated(probe, "a", "uid-a", longMessages(2, 200)...)
	payload, err := encodeRecord(probe.sink.take())
	if err != nil {
		t.Fatal(err)
	}
	record := int64(len(payload)) + 8

	sink := &fakeSink{down: true}
	a := queuedAuditor(t, sink, t.TempDir(), record*5/2) // two such batches fit, not three
	ctx, _ := runPipe(t, a)
	evaluated(a, "a", "uid-a", longMessages(2, 200)...)
	onDisk(t, a, 1)
	evaluated(a, "b", "uid-b", longMessages(2, 200)...)
	onDisk(t, a, 2)
	c := evaluated(a, "c", "uid-c", longMessages(2, 200)...)
	poll.Until(t, "the full queue is counted", func() bool { return counterValue(t, a.metrics.queueFull) > 0 })
	a.mu.Lock()
	stillDue := a.sink.isDue[c] && a.states[c] != nil
	a.mu.Unlock()
	if !stillDue {
		t.Fatal("a result that did not fit in the queue must stay due in memory")
	}

	sink.set(func(f *fakeSink) { f.down = false })
	if err := a.sink.flush(ctx); err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, r := range sentResults(sink) {
		uids = append(uids, r[:strings.IndexByte(r, ':')])
	}
	if want := []string{"uid-a", "uid-b", "uid-c"}; !slices.Equal(uids, want) {
		t.Fatalf("the sink took %q, want %q", uids, want)
	}
}

func TestARejectedBatchIsDroppedFromTheQueueAndItsObjectsSentAgainLater(t *testing.T) {
	sink := &fakeSink{reject: true}
	a := queuedAuditor(t, sink, t.TempDir(), 1<<20)
	ctx, _ := runPipe(t, a)
	k := evaluated(a, "a", "uid-a", "x")
	flushCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.sink.flush(flushCtx); err != nil {
		t.Fatalf("flush: %v (a refused batch left on the queue blocks it)", err)
	}
	if n := counterValue(t, a.metrics.sinkWrites.WithLabelValues("rejected")); n != 1 {
		t.Fatalf("the batch was refused %v times, want once", n)
	}
	if records, _, _ := a.sink.disk.Stats(); records != 0 {
		t.Fatalf("a refused batch stays on disk (%d batches)", records)
	}
	a.mu.Lock()
	queued := a.states[k].queued
	a.mu.Unlock()
	if queued != 0 {
		t.Fatal("a refused result must not count as handed over, so its next evaluation sends it")
	}

	sink.set(func(f *fakeSink) { f.reject = false })
	evaluated(a, "a", "uid-a", "x") // its next evaluation
	if err := a.sink.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sentResults(sink); !slices.Equal(got, []string{"uid-a:x"}) {
		t.Fatalf("the sink took %q after the next evaluation", got)
	}
}
