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
	Seq    int64  `json:"seq"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// String is a one-line summary for people.
func (r VerifyResult) String() string {
	if r.Broken != nil {
		return fmt.Sprintf("cluster %s: BROKEN at seq %d (event %s): %s; %d events before it verified",
			r.Cluster, r.Broken.Seq, r.Broken.ID, r.Broken.Reason, r.Count)
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
func Verify(ctx context.Context, s store.Store, cluster string, r Range) (VerifyResult, error) {
	v := &verifier{store: s, cluster: cluster, result: VerifyResult{Cluster: cluster}}
	q := store.EventQuery{
		Cluster: cluster,
		Time:    store.TimeRange{From: r.From, To: r.To},
		FromSeq: r.FromSeq,
		ToSeq:   r.ToSeq,
	}
	timeBounded := !r.From.IsZero() || !r.To.IsZero()
	err := v.walk(ctx, q, timeBounded)
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
	prev    *store.Event // the last event verified, or the one before the range
	started bool
	result  VerifyResult
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
	r := &v.result
	if r.Count == 0 {
		r.FirstSeq, r.FirstHash = e.Seq, e.Hash
	}
	r.Count++
	r.LastSeq, r.LastHash = e.Seq, e.Hash
	v.prev = &e
	return nil
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
