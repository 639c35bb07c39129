package trail

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

// Range selects part of a cluster's chain. Zero fields leave that side open.
// From is inclusive and To exclusive, as in store.TimeRange; FromSeq and ToSeq
// are inclusive.
type Range struct {
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
	FromSeq int64     `json:"fromSeq,omitempty"`
	ToSeq   int64     `json:"toSeq,omitempty"`
}

// VerifyResult says whether a range of a chain is intact. When it is not,
// Broken names the first bad event, and the counts cover the events before it.
type VerifyResult struct {
	Cluster   string `json:"cluster"`
	OK        bool   `json:"ok"`
	Count     int64  `json:"count"`
	FirstSeq  int64  `json:"firstSeq,omitempty"`
	LastSeq   int64  `json:"lastSeq,omitempty"`
	FirstHash string `json:"firstHash,omitempty"`
	LastHash  string `json:"lastHash,omitempty"`
	Broken    *Break `json:"broken,omitempty"`
}

// Break is the first event at which a chain fails verification.
type Break struct {
	Seq int64 `json:"seq"`
	// ID is the event's, empty when the event at Seq is missing.
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// String is a one-line summary for people.
func (r VerifyResult) String() string {
	if r.Broken != nil {
		event := ""
		if r.Broken.ID != "" {
			event = fmt.Sprintf(" (event %s)", r.Broken.ID)
		}
		return fmt.Sprintf("cluster %s: BROKEN at seq %d%s: %s; %d events before it verified",
			r.Cluster, r.Broken.Seq, event, r.Broken.Reason, r.Count)
	}
	if r.Count == 0 {
		return fmt.Sprintf("cluster %s: intact, no events in range", r.Cluster)
	}
	return fmt.Sprintf("cluster %s: intact, %d events, seq %d..%d, last hash %s",
		r.Cluster, r.Count, r.FirstSeq, r.LastSeq, r.LastHash)
}

// GenesisPrevHash is the PrevHash of a chain's first event (Seq 1).
const GenesisPrevHash = ""

// pageSize is how many events Verify reads per store query, the store's maximum.
const pageSize = 1000

// Verify walks a cluster's events in range r in chain order and checks that
// each one's Seq follows the previous one's, its PrevHash is the previous
// one's Hash, and its Hash is what Hash computes from its content. The first
// event of the range is linked to the event before it, which is fetched, so a
// range starting mid-chain proves its first event too. A broken chain is a
// result, not an error; the error is for a store that cannot answer.
//
// Event times need not grow with Seq (several webhook replicas deliver
// independently), so a time range can skip chain positions whose times fall
// outside it; those events are fetched by Seq and verified as well, so every
// chain position from the first event in range to the last is covered.
//
// The end of the range is checked against the chain head the store recorded
// (store.Store.RecordedHead), so events deleted from the end are seen too:
//   - A range without an upper bound (no To, no ToSeq) must reach the
//     recorded head: positions after the last event in range are fetched by
//     Seq and verified, the first one missing breaks the chain, and the
//     event at the head must carry the recorded hash.
//   - A ToSeq range must reach min(ToSeq, recorded head) the same way. An
//     event after ToSeq is not the range's business: range 10..18 is intact
//     even if event 19 was deleted (range 10..19 is then broken at 19).
//   - A To (time) range cannot know which positions its period ends with, so
//     the event after its last one, whatever its time, must exist and link
//     to it (unless a ToSeq bound ends the range there).
//   - A range in which no event is found is broken at its first position if
//     it is a Seq range (or the whole chain) the recorded head says has
//     events; an open-ended time range then needs the recorded head's event
//     to still be there, with its hash. A bounded time range may be empty.
//
// An event beyond the recorded head (not appended through the store) breaks
// the chain wherever it is found. The head is read before the walk and again
// when an event beyond it turns up, so appends while verifying break nothing.
// A missing event's Break has no ID.
func Verify(ctx context.Context, s store.Store, cluster string, r Range) (VerifyResult, error) {
	v := &verifier{store: s, cluster: cluster, result: VerifyResult{Cluster: cluster}}
	if err := v.readHead(ctx); err != nil {
		return VerifyResult{}, err
	}
	q := store.EventQuery{
		Cluster: cluster,
		Time:    store.TimeRange{From: r.From, To: r.To},
		FromSeq: r.FromSeq,
		ToSeq:   r.ToSeq,
	}
	timeBounded := !r.From.IsZero() || !r.To.IsZero()
	err := v.walk(ctx, q, timeBounded)
	if err == nil {
		err = v.checkEnd(ctx, r)
	}
	if err != nil && !errors.Is(err, errBroken) {
		return VerifyResult{}, err
	}
	v.result.OK = v.result.Broken == nil
	return v.result, nil
}

// errBroken stops the walk at the first break; the break is in the result.
var errBroken = errors.New("chain broken")

type verifier struct {
	store   store.Store
	cluster string
	head    recordedHead // as last read from the store
	prev    *store.Event // the last event verified, or the one before the range
	started bool
	result  VerifyResult
}

// recordedHead is the chain head the store recorded; zero for no chain.
type recordedHead struct {
	seq  int64
	hash string
}

// readHead reads the chain head the store recorded for the cluster.
func (v *verifier) readHead(ctx context.Context) error {
	seq, hash, err := v.store.RecordedHead(ctx, v.cluster)
	if errors.Is(err, store.ErrNotFound) {
		seq, hash, err = 0, "", nil
	}
	if err != nil {
		return fmt.Errorf("verify the chain of cluster %s: %w", v.cluster, err)
	}
	v.head = recordedHead{seq: seq, hash: hash}
	return nil
}

// walk verifies the events q selects, page by page. With fillGaps, positions
// q skipped are fetched by Seq and verified in between.
func (v *verifier) walk(ctx context.Context, q store.EventQuery, fillGaps bool) error {
	q.Limit = pageSize
	for {
		page, err := v.store.Events(ctx, q)
		if err != nil {
			return fmt.Errorf("read events of cluster %s: %w", v.cluster, err)
		}
		for _, e := range page.Events {
			if fillGaps && v.prev != nil && e.Seq > v.prev.Seq+1 {
				gap := store.EventQuery{Cluster: v.cluster, FromSeq: v.prev.Seq + 1, ToSeq: e.Seq - 1}
				if err := v.walk(ctx, gap, false); err != nil {
					return err
				}
			}
			if err := v.check(ctx, e); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}

// check verifies one event against the previous one and records it.
func (v *verifier) check(ctx context.Context, e store.Event) error {
	if !v.started {
		v.started = true
		if e.Seq > 1 {
			before, err := v.eventAt(ctx, e.Seq-1)
			if errors.Is(err, store.ErrNotFound) {
				return v.broken(e, fmt.Sprintf("sequence gap: event %d, the one before %d, is missing", e.Seq-1, e.Seq))
			}
			if err != nil {
				return err
			}
			v.prev = &before
		}
	}
	if reason := linkProblem(v.prev, e); reason != "" {
		return v.broken(e, reason)
	}
	computed, err := Hash(e)
	if err != nil {
		return v.broken(e, "cannot compute hash: "+err.Error())
	}
	if computed != e.Hash {
		return v.broken(e, fmt.Sprintf("hash mismatch: stored %s, computed %s (content altered)", e.Hash, computed))
	}
	if err := v.checkAgainstHead(ctx, e); err != nil {
		return err
	}
	r := &v.result
	if r.Count == 0 {
		r.FirstSeq, r.FirstHash = e.Seq, e.Hash
	}
	r.Count++
	r.LastSeq, r.LastHash = e.Seq, e.Hash
	v.prev = &e
	return nil
}

// checkAgainstHead checks e against the recorded chain head: an event beyond
// it was not appended through the store, and the event at it must carry the
// recorded hash. The head is read again first if e is beyond it, as e may
// have been appended since.
func (v *verifier) checkAgainstHead(ctx context.Context, e store.Event) error {
	if e.Seq > v.head.seq {
		if err := v.readHead(ctx); err != nil {
			return err
		}
	}
	if reason := headProblem(v.head, e); reason != "" {
		return v.broken(e, reason)
	}
	return nil
}

// headProblem says why e disagrees with the recorded chain head, or "" if it does not.
func headProblem(head recordedHead, e store.Event) string {
	switch {
	case e.Seq > head.seq:
		return fmt.Sprintf("event %d is beyond the chain's recorded head at seq %d (not appended through the store)", e.Seq, head.seq)
	case e.Seq == head.seq && e.Hash != head.hash:
		return fmt.Sprintf("the chain's recorded head at seq %d has hash %s, not the event's %s", head.seq, head.hash, e.Hash)
	}
	return ""
}

// checkEnd checks, after the walk, that the range does not end early: see
// Verify for what each kind of range requires.
func (v *verifier) checkEnd(ctx context.Context, r Range) error {
	switch {
	case !v.started:
		return v.checkEmpty(ctx, r)
	case r.To.IsZero():
		return v.reachEnd(ctx, v.endSeq(r))
	default:
		return v.checkNext(ctx, r)
	}
}

// endSeq is the last chain position a range without a time upper bound must reach.
func (v *verifier) endSeq(r Range) int64 {
	if r.ToSeq != 0 {
		return min(r.ToSeq, v.head.seq)
	}
	return v.head.seq
}

// reachEnd verifies the positions after the last event verified up to end,
// by Seq, and breaks the chain at the first one missing.
func (v *verifier) reachEnd(ctx context.Context, end int64) error {
	if v.prev.Seq < end {
		tail := store.EventQuery{Cluster: v.cluster, FromSeq: v.prev.Seq + 1, ToSeq: end}
		if err := v.walk(ctx, tail, false); err != nil {
			return err
		}
	}
	if v.prev.Seq < end {
		return v.missing(v.prev.Seq + 1)
	}
	return nil
}

// checkNext checks that the event after a time range's last one exists and
// links to it, unless the last one is the chain's head or the range's ToSeq.
func (v *verifier) checkNext(ctx context.Context, r Range) error {
	last := *v.prev
	if last.Seq >= v.head.seq || (r.ToSeq != 0 && last.Seq >= r.ToSeq) {
		return nil
	}
	next, err := v.eventAt(ctx, last.Seq+1)
	if errors.Is(err, store.ErrNotFound) {
		return v.missing(last.Seq + 1)
	}
	if err != nil {
		return err
	}
	if reason := linkProblem(&last, next); reason != "" {
		return v.broken(next, reason)
	}
	return nil
}

// checkEmpty decides a range in which no event was found: a Seq range (or
// the whole chain) the recorded head says has events is missing its first
// one, and an open-ended time range needs the recorded head's event.
func (v *verifier) checkEmpty(ctx context.Context, r Range) error {
	if r.From.IsZero() && r.To.IsZero() {
		if first := max(r.FromSeq, 1); first <= v.endSeq(r) {
			return v.missing(first)
		}
		return nil
	}
	if !r.To.IsZero() || v.head.seq == 0 || !seqInRange(r, v.head.seq) {
		return nil
	}
	e, err := v.eventAt(ctx, v.head.seq)
	if errors.Is(err, store.ErrNotFound) {
		return v.missing(v.head.seq)
	}
	if err != nil {
		return err
	}
	if reason := headProblem(v.head, e); reason != "" {
		return v.broken(e, reason)
	}
	return nil
}

// seqInRange says whether a chain position is within r's Seq bounds.
func seqInRange(r Range, seq int64) bool {
	return (r.FromSeq == 0 || seq >= r.FromSeq) && (r.ToSeq == 0 || seq <= r.ToSeq)
}

// linkProblem says why e does not follow prev in the chain, or "" if it does.
// A nil prev means e must be the chain's first event.
func linkProblem(prev *store.Event, e store.Event) string {
	if prev == nil {
		if e.Seq != 1 {
			return fmt.Sprintf("sequence gap: the chain starts at %d", e.Seq)
		}
		if e.PrevHash != GenesisPrevHash {
			return fmt.Sprintf("prev_hash of the first event is %q, not %q", e.PrevHash, GenesisPrevHash)
		}
		return ""
	}
	if e.Seq != prev.Seq+1 {
		return fmt.Sprintf("sequence gap: %d followed by %d", prev.Seq, e.Seq)
	}
	if e.PrevHash != prev.Hash {
		return fmt.Sprintf("prev_hash does not match event %d's hash: prev_hash %s, hash %s", prev.Seq, e.PrevHash, prev.Hash)
	}
	return ""
}

func (v *verifier) broken(e store.Event, reason string) error {
	v.result.Broken = &Break{Seq: e.Seq, ID: e.ID, Reason: reason}
	return errBroken
}

// missing breaks the chain at a position whose event is gone.
func (v *verifier) missing(seq int64) error {
	reason := fmt.Sprintf("event %d is missing: the chain's recorded head is at seq %d", seq, v.head.seq)
	v.result.Broken = &Break{Seq: seq, Reason: reason}
	return errBroken
}

// eventAt fetches the event at one chain position.
func (v *verifier) eventAt(ctx context.Context, seq int64) (store.Event, error) {
	page, err := v.store.Events(ctx, store.EventQuery{Cluster: v.cluster, FromSeq: seq, ToSeq: seq, Limit: 1})
	if err != nil {
		return store.Event{}, fmt.Errorf("read event %d of cluster %s: %w", seq, v.cluster, err)
	}
	if len(page.Events) == 0 {
		return store.Event{}, store.ErrNotFound
	}
	return page.Events[0], nil
}
