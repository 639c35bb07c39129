package audit

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/diskqueue"
	"github.com/bailiff/bailiff/pkg/store"
)

// sinkPipe delivers results to the sink in batches, in the background.
//
// Evaluation never waits for it: a worker only marks an object's result as
// due (its state already holds the result) or queues a deletion, and the
// pipe sends the latest result of each due object when it gets to it. So a
// slow store or a server outage costs no memory beyond one entry per object,
// delays nothing but delivery, and loses no object's latest result: a batch
// is retried, with growing waits, until the sink takes it. Only a batch the
// sink refuses as invalid is dropped; its objects are sent again after their
// next evaluation. Held in memory alone, though, the results an object had
// in between are never sent (a finding opened and resolved during an outage
// leaves no trace), and a restart loses what was not delivered.
//
// A batch holds at most maxBatch items and encodes to at most maxBytes, the
// server's limit on a request body, so objects with many violations make
// smaller batches rather than one the server refuses. An object whose result
// alone is larger cannot be recorded at all: it is logged as an error and
// counted (outcome too_large), and tried again after its next evaluation.
//
// With a disk queue (Options.QueueDir), a batch is appended to it as soon as
// it is taken, and a shipper delivers the queue in order, which keeps all of
// them, across restarts: see diskpipe.go.
type sinkPipe struct {
	a        *Auditor
	wake     chan struct{}
	flushes  chan chan flushed
	maxBatch int
	maxBytes int
	retryMin time.Duration
	retryMax time.Duration

	// disk, when set, holds the batches taken until the sink takes them; nil
	// sends each batch straight from memory, one at a time.
	disk *diskqueue.Queue
	// freed signals, at most once per wait, that the shipper committed a
	// batch, so a full disk queue may have room again.
	freed chan struct{}
	full  bool // the last batch did not fit in the disk queue; only run uses it

	// Guarded by a.mu.
	due       []objectKey
	isDue     map[objectKey]bool
	deletions []results.Deletion
}

func newSinkPipe(a *Auditor) *sinkPipe {
	return &sinkPipe{a: a, wake: make(chan struct{}, 1), flushes: make(chan chan flushed), freed: make(chan struct{}, 1),
		maxBatch: 500, maxBytes: results.MaxBodyBytes, retryMin: 500 * time.Millisecond, retryMax: time.Minute, isDue: map[objectKey]bool{}}
}

// markDue schedules an object's current result for delivery; the caller holds a.mu.
func (p *sinkPipe) markDue(k objectKey) {
	if !p.isDue[k] {
		p.isDue[k] = true
		p.due = append(p.due, k)
	}
	p.poke()
}

// markDeleted schedules a deletion, dropping an undelivered result of the
// same object; the caller holds a.mu.
func (p *sinkPipe) markDeleted(k objectKey, d results.Deletion) {
	delete(p.isDue, k) // the key stays in due; take skips it
	p.deletions = append(p.deletions, d)
	p.poke()
}

func (p *sinkPipe) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// flushed answers a flush: with a disk queue, the position the shipper
// must commit past before everything due at the flush was delivered.
type flushed struct {
	end diskqueue.Position
	err error
}

// flush returns once everything due before it was delivered.
func (p *sinkPipe) flush(ctx context.Context) error {
	done := make(chan flushed, 1)
	select {
	case p.flushes <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	var f flushed
	select {
	case f = <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if f.err != nil || p.disk == nil {
		return f.err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for p.disk.AckedBefore(f.end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// run takes batches and delivers them (or, with a disk queue, appends them
// to it and ships the queue) until ctx ends.
func (p *sinkPipe) run(ctx context.Context) {
	if p.disk != nil {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			p.ship(ctx, false)
		}()
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
			// Let a burst gather into one batch, unless a batch is full already.
			p.a.mu.Lock()
			full := len(p.due)+len(p.deletions) >= p.maxBatch
			p.a.mu.Unlock()
			if !full {
				continue // the tick sends it
			}
			p.drain(ctx, false)
		case <-tick.C:
			p.drain(ctx, false)
		case done := <-p.flushes:
			p.drain(ctx, true)
			f := flushed{err: ctx.Err()}
			if p.disk != nil {
				f.end = p.disk.End()
			}
			done <- f
		}
	}
}

// drain hands over batches: one, or until nothing is due with all. With a
// disk queue, a batch is appended to it; without, it is written to the sink.
func (p *sinkPipe) drain(ctx context.Context, all bool) {
	for ctx.Err() == nil {
		if p.disk != nil && p.full && !p.waitForRoom(ctx, all) {
			return
		}
		h := p.take()
		if h.req.Len() == 0 {
			return
		}
		if p.disk == nil {
			p.write(ctx, h)
		} else if err := p.persist(h); err != nil {
			if !all {
				return // the next tick tries again
			}
			if !p.full {
				sleepCtx(ctx, p.retryMax) // a failing disk, not a full one
			}
			continue
		}
		if !all {
			return
		}
	}
}

// take builds the next batch from what is due: deletions, and the current
// result of due objects, at most maxBatch items and maxBytes encoded. A
// result of an object the batch also deletes waits for the next batch, since
// a batch applies results before deletions.
func (p *sinkPipe) take() handover {
	a := p.a
	a.mu.Lock()
	defer a.mu.Unlock()
	req := results.Request{Cluster: a.cluster}
	size := newBatchSize(a.cluster, p.maxBytes)
	n := 0
	for _, d := range p.deletions {
		if n >= p.maxBatch {
			break
		}
		b := encodedLen(d)
		if !size.fitsAlone(b) {
			p.tooLarge(d.Object, "deletion", b)
			n++
			continue
		}
		if !size.add(b) {
			break
		}
		req.Deletions = append(req.Deletions, d)
		n++
	}
	p.deletions = p.deletions[n:]
	deleted := make(map[string]bool, len(req.Deletions))
	for _, d := range req.Deletions {
		deleted[d.Object.UID] = true
	}
	var keys []objectKey
	var exemptions [][]string
	rest := p.due[:0]
	for i, k := range p.due {
		if len(req.Deletions)+len(req.Results) >= p.maxBatch {
			rest = append(rest, p.due[i:]...)
			break
		}
		if !p.isDue[k] {
			continue
		}
		st := a.states[k]
		if st == nil || !st.evaluated || st.errMsg != "" {
			delete(p.isDue, k)
			continue
		}
		if deleted[st.ref.UID] {
			rest = append(rest, k)
			continue
		}
		uses, useKeys := newExemptionUses(st)
		r := results.ObjectResult{
			Object: st.ref, EvaluatedAt: st.evaluatedAt, PolicySetVersion: st.setVersion, Violations: storeViolations(st.violations),
			Exemptions: uses,
		}
		b := encodedLen(r)
		if !size.fitsAlone(b) {
			delete(p.isDue, k)
			st.queued = 0 // sent again after its next evaluation, which may be smaller
			p.tooLarge(st.ref, "result", b)
			continue
		}
		if !size.add(b) {
			rest = append(rest, p.due[i:]...)
			break
		}
		delete(p.isDue, k)
		keys = append(keys, k)
		exemptions = append(exemptions, useKeys)
		req.Results = append(req.Results, r)
	}
	p.due = rest
	return handover{req: req, keys: keys, exemptions: exemptions}
}

// handover is a batch taken for the sink and, for each of its results, the
// object's key and the keys of all its exemption uses when it was taken:
// what the auditor records of the object once the sink takes the batch.
type handover struct {
	req        results.Request
	keys       []objectKey
	exemptions [][]string
}

// tooLarge reports an object's result or deletion that cannot be sent,
// since alone it encodes to more than a batch may; the caller holds a.mu.
func (p *sinkPipe) tooLarge(obj store.ObjectRef, what string, size int) {
	p.a.metrics.sinkWrites.WithLabelValues("too_large").Inc()
	p.a.log.Error("an object's "+what+" is larger than the sink accepts in one request, so the findings the sink holds of it stay as they were",
		"sink", p.a.opts.Sink.Name(), "kind", obj.Kind, "namespace", obj.Namespace, "name", obj.Name, "uid", obj.UID,
		"bytes", size, "maxBytes", p.maxBytes)
}

// batchSize adds up the encoded size of a batch as items join it.
type batchSize struct {
	empty, used, max int
}

// newBatchSize starts with what a batch of no items takes: the cluster and
// both lists' brackets.
func newBatchSize(cluster string, maxBytes int) batchSize {
	empty := encodedLen(results.Request{Cluster: cluster}) + len(`,"results":[],"deletions":[]`)
	return batchSize{empty: empty, used: empty, max: maxBytes}
}

// fitsAlone says whether an item of n bytes fits in a batch of its own.
func (s batchSize) fitsAlone(n int) bool { return s.empty+n+1 <= s.max }

// add counts an item of n bytes and its comma, if it fits.
func (s *batchSize) add(n int) bool {
	if s.used+n+1 > s.max {
		return false
	}
	s.used += n + 1
	return true
}

// encodedLen is the size of v in JSON, as the sink encodes it.
func encodedLen(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0 // not encodable: the sink reports it
	}
	return len(b)
}

// write delivers one batch, retrying until it is taken or refused, which it
// reports as true, or until ctx ends (false).
func (p *sinkPipe) write(ctx context.Context, h handover) bool {
	req := h.req
	wait := p.retryMin
	for attempt := 1; ; attempt++ {
		resp, err := p.a.opts.Sink.Write(ctx, req)
		if err == nil {
			p.a.metrics.sinkWrites.WithLabelValues("ok").Inc()
			p.a.delivered(h)
			if resp.Opened+resp.Resolved > 0 {
				p.a.log.Info("findings changed", "opened", resp.Opened, "resolved", resp.Resolved, "events", resp.Events)
			}
			return true
		}
		var rejected *RejectedError
		if errors.As(err, &rejected) {
			p.a.metrics.sinkWrites.WithLabelValues("rejected").Inc()
			p.a.log.Error("the sink refused a batch of results; its objects are sent again after their next evaluation",
				"sink", p.a.opts.Sink.Name(), "results", len(req.Results), "deletions", len(req.Deletions), "error", err)
			p.a.undelivered(h)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		p.a.metrics.sinkWrites.WithLabelValues("retry").Inc()
		if attempt == 1 || attempt%10 == 0 {
			p.a.log.Warn("cannot deliver results; retrying", "sink", p.a.opts.Sink.Name(), "attempt", attempt, "retryIn", wait, "error", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, p.retryMax)
	}
}

// delivered records that the sink holds these results now, and so the
// exemption uses they were taken with.
func (a *Auditor) delivered(h handover) {
	now := a.opts.Now()
	a.eachTaken(h, func(i int, st *objectState) {
		st.syncedAt = now
		st.exemptionsDelivered = make(map[string]bool, len(h.exemptions[i]))
		for _, key := range h.exemptions[i] {
			st.exemptionsDelivered[key] = true
		}
	})
}

// undelivered makes the next evaluation of these objects send them again.
func (a *Auditor) undelivered(h handover) {
	a.eachTaken(h, func(_ int, st *objectState) { st.queued = 0 })
}

// eachTaken calls fn, holding a.mu, with the index and state of each object
// of h's results that is still the object the result is of.
func (a *Auditor) eachTaken(h handover, fn func(int, *objectState)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, k := range h.keys {
		if st := a.states[k]; st != nil && st.ref.UID == h.req.Results[i].Object.UID {
			fn(i, st)
		}
	}
}
