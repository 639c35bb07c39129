package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bailiff/bailiff/pkg/policy"
)

// Auditor receives every admission decision, for the audit trail. The handler never
// calls it on the request path: decisions reach it through a bounded queue, on a
// goroutine of its own, so a slow or stuck Auditor costs records, never latency.
type Auditor interface {
	Record(ctx context.Context, d Decision)
}

// ReloadAuditor receives every attempt to load a policy set and configuration.
type ReloadAuditor interface {
	RecordReload(ctx context.Context, r ReloadOutcome)
}

// Trail decisions of an admission request.
const (
	DecisionAllowed = "allowed"
	DecisionDenied  = "denied"
	DecisionWarned  = "warned"
)

// Decision is one answered admission request: who asked for what, what the webhook
// answered and why. The handler fills it from facts it already holds; turning it into
// trail events is the Auditor's work.
type Decision struct {
	Time     time.Time // when the answer was decided
	Endpoint string    // validate or mutate

	// The request.
	RequestUID  string // the AdmissionReview request's uid
	ObjectUID   string // the object's metadata.uid, empty while it is being created
	User        string
	Groups      []string
	Operation   string
	APIVersion  string // the object's group/version, e.g. apps/v1
	Kind        string
	SubResource string
	Namespace   string
	Name        string
	DryRun      bool

	// The answer.
	Outcome string // DecisionAllowed, DecisionDenied or DecisionWarned
	// Violations are every violation found, whatever its enforcement.
	Violations []policy.Violation
	// ExemptedViolations and ExemptedMutations are the exemptions used.
	ExemptedViolations []policy.ExemptedViolation
	ExemptedMutations  []policy.ExemptedMutation
	Patch              []byte // the RFC 6902 JSON Patch answered by /mutate
	PolicySetVersion   string
	// ExemptNamespace is set when the namespace is exempt and nothing was evaluated.
	ExemptNamespace bool
	// Err is why policies could not be evaluated; FailurePolicy then decided Outcome.
	Err           error
	FailurePolicy FailurePolicy
}

// ReloadOutcome is one attempt to load a policy set and configuration.
type ReloadOutcome struct {
	Time    time.Time
	Trigger string // ReloadAtStart or ReloadOnChange
	// Err is why the set was rejected; nil when it was loaded.
	Err error
	// Version is the set serving after the attempt: the new one, or on rejection the
	// one that keeps serving. PreviousVersion is the one serving before.
	Version, PreviousVersion string
	// SourceDigest identifies the files read from disk (configuration and extra
	// policy directories), so a rejected set can be told apart from the next one.
	SourceDigest string
	Files        policy.Files
	Policies     int // policies in the set serving after the attempt
}

// What made the webhook load a policy set.
const (
	ReloadAtStart  = "start"  // the set the webhook started with
	ReloadOnChange = "change" // a file changed
)

// defaultAuditQueue is how many decisions may wait for the Auditor.
const defaultAuditQueue = 4096

// recorder hands decisions to the Auditor on one goroutine of its own, in order. What
// does not fit in its queue is dropped, counted and logged; record never waits.
type recorder struct {
	auditor Auditor
	queue   chan Decision
	metrics *Metrics
	logger  *slog.Logger

	closed    atomic.Bool
	lastLog   atomic.Int64 // unix nanoseconds of the last drop logged
	stop      chan struct{}
	done      chan struct{}
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
}

func newRecorder(a Auditor, size int, metrics *Metrics, logger *slog.Logger) *recorder {
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{
		auditor: a, queue: make(chan Decision, size), metrics: metrics, logger: logger,
		stop: make(chan struct{}), done: make(chan struct{}), cancel: cancel,
	}
	go r.run(ctx)
	return r
}

// record queues d for the Auditor, or drops it if the queue is full or closed.
func (r *recorder) record(d Decision) {
	if r.closed.Load() {
		r.drop("closed")
		return
	}
	select {
	case r.queue <- d:
	default:
		r.drop("queue_full")
	}
}

func (r *recorder) drop(reason string) {
	r.metrics.auditDropped.WithLabelValues(reason).Inc()
	now := time.Now().UnixNano()
	last := r.lastLog.Load()
	if now-last < int64(10*time.Second) || !r.lastLog.CompareAndSwap(last, now) {
		return
	}
	r.logger.Warn("admission decisions are not reaching the audit trail; see bailiff_admission_audit_dropped_total",
		"reason", reason, "queue", cap(r.queue))
}

// recorderLinger is how long the recorder lets decisions gather after waking for one,
// so under steady load it wakes once per group rather than once per request.
const recorderLinger = 10 * time.Millisecond

func (r *recorder) run(ctx context.Context) {
	defer close(r.done)
	for {
		select {
		case d := <-r.queue:
			r.hand(ctx, d)
			linger := time.NewTimer(recorderLinger)
			select {
			case <-linger.C:
			case <-r.stop:
				linger.Stop()
			}
			r.drain(ctx)
		case <-r.stop:
			r.drain(ctx)
			return
		}
	}
}

// drain hands over every decision waiting.
func (r *recorder) drain(ctx context.Context) {
	for {
		select {
		case d := <-r.queue:
			r.hand(ctx, d)
		default:
			return
		}
	}
}

// hand gives one decision to the Auditor; a panic there loses the record, not the
// webhook.
func (r *recorder) hand(ctx context.Context, d Decision) {
	defer func() {
		if p := recover(); p != nil {
			r.metrics.auditDropped.WithLabelValues("panic").Inc()
			r.logger.Error("panic recording an admission decision", "uid", d.RequestUID, "panic", fmt.Sprint(p))
		}
	}()
	r.auditor.Record(ctx, d)
}

// close stops taking decisions and hands the Auditor those waiting. If ctx ends
// first, the rest are lost and the Auditor's context is cancelled.
func (r *recorder) close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
		select {
		case <-r.done:
		case <-ctx.Done():
			r.closeErr = fmt.Errorf("hand admission decisions to the audit trail: %w (%d not handed over)", ctx.Err(), len(r.queue))
		}
		r.cancel()
	})
	return r.closeErr
}
