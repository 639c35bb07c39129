package trail

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/bailiff/bailiff/pkg/diskqueue"
)

// sender delivers a batch of a cluster's events; Client is the real one.
type sender interface {
	Ingest(ctx context.Context, cluster string, events []json.RawMessage) (IngestResponse, error)
}

var _ sender = (*Client)(nil)

// shipper moves batches from the disk queue to the server, acknowledging each
// only after a 2xx answer.
type shipper struct {
	queue      *diskqueue.Queue
	send       sender
	cluster    string
	maxEvents  int
	maxBytes   int64
	batchDelay time.Duration // lets a partial batch fill this long before it is sent
	minBackoff time.Duration
	maxBackoff time.Duration
	metrics    *emitterMetrics
	logger     *slog.Logger
	logs       *throttle
	// changed is called after every acknowledgement, to update gauges.
	changed func()
}

// run delivers until ctx ends. Transient failures (transport errors, 5xx,
// 429, and 401/403, which an operator fixes) are retried with exponential
// backoff and jitter. A batch the server rejects as invalid (400, 413, 422) is
// sent again one event at a time, so only the events it refuses are dropped
// and the queue behind them is not stuck.
func (s *shipper) run(ctx context.Context) {
	backoff := s.minBackoff
	var failures int
	var singlesUntil diskqueue.Position // events before this go one at a time
	var filling bool                    // the partial batch peeked has had its batchDelay
	for ctx.Err() == nil {
		limit := s.maxEvents
		if s.queue.AckedBefore(singlesUntil) {
			limit = 1
		}
		b, err := s.queue.Peek(limit, s.maxBytes)
		if err == nil && len(b.Payloads) == 0 {
			err = s.queue.Commit(b) // moves past skipped damage, if any
			if err == nil {
				select {
				case <-s.queue.Ready():
				case <-ctx.Done():
				}
				continue
			}
		}
		if err != nil {
			s.logger.Error("cannot read the trail queue", "err", err)
			sleep(ctx, jitter(backoff))
			backoff = min(2*backoff, s.maxBackoff)
			continue
		}
		if s.batchDelay > 0 && !filling && len(b.Payloads) < limit && b.Bytes < s.maxBytes {
			filling = true
			sleep(ctx, s.batchDelay)
			continue
		}
		filling = false
		events := make([]json.RawMessage, len(b.Payloads))
		for i, p := range b.Payloads {
			events[i] = p
		}
		resp, err := s.send.Ingest(ctx, s.cluster, events)
		var status *StatusError
		switch {
		case err == nil:
			if err := s.queue.Commit(b); err != nil {
				s.logger.Error("cannot record delivered trail events; they will be sent again", "err", err)
			}
			s.metrics.batches.Inc()
			s.metrics.shippedEvents.WithLabelValues("stored").Add(float64(resp.Stored))
			s.metrics.shippedEvents.WithLabelValues("duplicate").Add(float64(resp.Duplicates))
			s.changed()
			if failures > 0 {
				s.logger.Info("delivering trail events again", "failedAttempts", failures)
			}
			backoff, failures = s.minBackoff, 0
		case ctx.Err() != nil:
			return
		case errors.As(err, &status) && status.Rejected():
			s.metrics.shipErrors.WithLabelValues("rejected").Inc()
			if len(b.Payloads) > 1 {
				s.logger.Warn("the server rejected a batch of trail events; sending them one by one to find the bad ones",
					"events", len(b.Payloads), "err", err)
				singlesUntil = b.Next
				continue
			}
			s.logger.Error("the server rejected a trail event; dropping it", "event", eventID(b.Payloads[0]), "err", err)
			s.metrics.dropped.WithLabelValues(dropRejected).Inc()
			if err := s.queue.Commit(b); err != nil {
				s.logger.Error("cannot record a dropped trail event", "err", err)
			}
			s.changed()
		default:
			failures++
			s.metrics.shipErrors.WithLabelValues(failureReason(err)).Inc()
			wait := jitter(backoff)
			if ok, held := s.logs.allow("ship"); ok {
				s.logger.Warn("cannot deliver trail events; will retry", "err", err, "retryIn", wait.Round(time.Millisecond),
					"failedAttempts", failures, "similarSuppressed", held)
			}
			sleep(ctx, wait)
			backoff = min(2*backoff, s.maxBackoff)
		}
	}
}

// failureReason is the ship_errors reason label for a failed delivery.
func failureReason(err error) string {
	var status *StatusError
	if !errors.As(err, &status) {
		return "transport"
	}
	if status.StatusCode == http.StatusUnauthorized || status.StatusCode == http.StatusForbidden {
		return "unauthorized"
	}
	return "server"
}

// jitter spreads a wait over [d/2, d], so clusters recovering together do not
// retry in step.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// eventID extracts an encoded event's ID for logs.
func eventID(payload []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload, &e)
	return e.ID
}
