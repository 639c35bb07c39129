package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/diskqueue"
)

// With a disk queue the pipe is two loops. run takes batches as before but
// appends each to the queue at once, so every change taken is kept, in order,
// however long the sink is unreachable, and survives a restart; ship reads
// the queue in order, writes each batch to the sink with the same retries,
// and commits it once the sink took or refused it. A restarted auditor ships
// what an earlier run left on disk before anything it takes itself.
//
// Bookkeeping: an object's result counts as handed over (its fingerprint in
// queued, its syncedAt) once it is on disk, since the queue delivers it in
// time; so a long outage neither stops new changes being taken nor makes
// every sweep write unchanged results again to refresh them. The exemption
// uses the sink has recorded follow the sink: delivered sets them, from the
// batch's record, when the sink takes it, and until then each batch taken
// carries the uses again (ingestion drops the duplicates). A batch the sink
// refuses is committed, not retried, and its objects are sent again after
// their next evaluation, as without a disk queue.
//
// When a batch does not fit in the queue's budget it is put back: its
// objects stay due in memory (their latest result is sent once there is
// room), its deletions stay queued, and the miss is logged and counted.

// queueSegmentBytes is the size of the disk queue's segments, at most.
const queueSegmentBytes = 8 << 20

// openDisk opens the disk queue in dir, bounded to budget bytes.
func (p *sinkPipe) openDisk(dir string, budget int64) error {
	q, err := diskqueue.Open(dir, budget, min(queueSegmentBytes, max(budget/4, 1)), p.a.log)
	if err != nil {
		return fmt.Errorf("audit queue %s: %w", dir, err)
	}
	p.disk = q
	p.updateQueueGauge()
	return nil
}

// closeDisk releases the disk queue; what is on it stays for the next run.
func (p *sinkPipe) closeDisk() error {
	if p.disk == nil {
		return nil
	}
	return p.disk.Close()
}

// record is a batch as the disk queue holds it.
type record struct {
	Request results.Request `json:"request"`
	// Objects has one entry per result.
	Objects []recordObject `json:"objects"`
}

// recordObject names the object of a result, and the keys of all its
// exemption uses when the result was taken.
type recordObject struct {
	Group      string   `json:"group,omitempty"`
	Version    string   `json:"version"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Name       string   `json:"name"`
	Exemptions []string `json:"exemptions,omitempty"`
}

func encodeRecord(h handover) ([]byte, error) {
	r := record{Request: h.req, Objects: make([]recordObject, len(h.keys))}
	for i, k := range h.keys {
		r.Objects[i] = recordObject{Group: k.gvk.Group, Version: k.gvk.Version, Kind: k.gvk.Kind,
			Namespace: k.namespace, Name: k.name, Exemptions: h.exemptions[i]}
	}
	return json.Marshal(r)
}

func decodeRecord(payload []byte) (handover, error) {
	var r record
	if err := json.Unmarshal(payload, &r); err != nil {
		return handover{}, err
	}
	if len(r.Objects) != len(r.Request.Results) {
		return handover{}, fmt.Errorf("%d objects for %d results", len(r.Objects), len(r.Request.Results))
	}
	h := handover{req: r.Request, keys: make([]objectKey, len(r.Objects)), exemptions: make([][]string, len(r.Objects))}
	for i, o := range r.Objects {
		h.keys[i] = objectKey{gvk: schema.GroupVersionKind{Group: o.Group, Version: o.Version, Kind: o.Kind}, namespace: o.Namespace, name: o.Name}
		h.exemptions[i] = o.Exemptions
	}
	return h, nil
}

// persist appends a batch to the disk queue, or puts it back if it cannot.
func (p *sinkPipe) persist(h handover) error {
	payload, err := encodeRecord(h)
	if err == nil {
		_, err = p.disk.Append([][]byte{payload})
	}
	switch {
	case err == nil:
		if p.full {
			p.full = false
			p.a.log.Info("the audit queue has room again; queueing results on disk")
		}
		p.a.handedOver(h)
		p.updateQueueGauge()
	case errors.Is(err, diskqueue.ErrFull):
		p.putBack(h)
		p.a.metrics.queueFull.Inc()
		if !p.full {
			_, pending, onDisk := p.disk.Stats()
			p.a.log.Warn("the audit queue on disk is full while the sink is unreachable; results wait in memory, each object's latest, until it has room",
				"sink", p.a.opts.Sink.Name(), "pendingBytes", pending, "onDiskBytes", onDisk, "batchBytes", len(payload))
		}
		p.full = true
	default:
		p.putBack(h)
		p.a.log.Error("cannot write results to the audit queue on disk; they wait in memory and are tried again", "error", err)
	}
	return err
}

// waitForRoom reports whether a full disk queue may have room: whether the
// shipper committed a batch since it filled. With wait, it waits for that.
func (p *sinkPipe) waitForRoom(ctx context.Context, wait bool) bool {
	if !wait {
		select {
		case <-p.freed:
			return true
		default:
			return false
		}
	}
	select {
	case <-p.freed:
		return true
	case <-ctx.Done():
		return false
	}
}

// putBack returns a batch that could not be queued to what is due, ahead of
// what was marked since; an object changed or gone since stays as it is now.
func (p *sinkPipe) putBack(h handover) {
	a := p.a
	a.mu.Lock()
	defer a.mu.Unlock()
	p.deletions = append(slices.Clone(h.req.Deletions), p.deletions...)
	var keys []objectKey
	for i, k := range h.keys {
		st := a.states[k]
		if st == nil || st.ref.UID != h.req.Results[i].Object.UID || p.isDue[k] {
			continue
		}
		p.isDue[k] = true
		keys = append(keys, k)
	}
	p.due = append(keys, p.due...)
}

// handedOver records that the disk queue holds these results: they reach
// the sink in time, so an unchanged one is not refreshed before RefreshAfter.
func (a *Auditor) handedOver(h handover) {
	now := a.opts.Now()
	a.eachTaken(h, func(_ int, st *objectState) { st.syncedAt = now })
}

// ship delivers the disk queue to the sink, in order, until ctx ends, or
// with untilEmpty until the queue is empty.
func (p *sinkPipe) ship(ctx context.Context, untilEmpty bool) {
	wait := p.retryMin
	for ctx.Err() == nil {
		b, err := p.disk.Peek(1, math.MaxInt64)
		if err == nil && len(b.Payloads) == 0 {
			err = p.disk.Commit(b) // moves past skipped damage, if any
			if err == nil {
				if untilEmpty {
					return
				}
				select {
				case <-p.disk.Ready():
				case <-ctx.Done():
				}
				continue
			}
		}
		if err != nil {
			p.a.log.Error("cannot read the audit queue on disk; retrying", "error", err, "retryIn", wait)
			sleepCtx(ctx, wait)
			wait = min(2*wait, p.retryMax)
			continue
		}
		wait = p.retryMin
		h, err := decodeRecord(b.Payloads[0])
		if err != nil {
			p.a.metrics.sinkWrites.WithLabelValues("rejected").Inc()
			p.a.log.Error("dropping an unreadable batch of results from the audit queue on disk; its objects are sent again after their next evaluation", "error", err)
		} else if !p.write(ctx, h) {
			return // ctx ended: the batch stays on disk for the next run
		}
		if err := p.disk.Commit(b); err != nil {
			p.a.log.Error("cannot record a delivered batch of results; it will be sent again", "error", err)
		}
		p.updateQueueGauge()
		select {
		case p.freed <- struct{}{}:
		default:
		}
	}
}

// updateQueueGauge sets the gauge of batches waiting on disk.
func (p *sinkPipe) updateQueueGauge() {
	records, _, _ := p.disk.Stats()
	p.a.metrics.queuedBatches.Set(float64(records))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// openQueue opens the disk queue and delivers what an earlier run left on it
// before returning, so that the open findings read next include it: an
// object's result that matches them is not sent again, and a stale result
// shipped later could not override it.
func (a *Auditor) openQueue(ctx context.Context) error {
	if err := a.sink.openDisk(a.opts.QueueDir, a.opts.QueueBudget); err != nil {
		return err
	}
	if records, _, _ := a.sink.disk.Stats(); records > 0 {
		a.log.Info("delivering the results an earlier run left in the audit queue", "dir", a.opts.QueueDir, "batches", records)
	}
	a.sink.ship(ctx, true)
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), a.sink.closeDisk())
	}
	return nil
}

// MinQueueBudget is the least disk budget of the audit queue: room for a
// segment already delivered but still written to (up to queueSegmentBytes)
// and the largest batch (results.MaxBodyBytes), with some to spare.
const MinQueueBudget = 32 << 20
