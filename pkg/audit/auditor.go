// Package audit is Bailiff's background auditor. It watches every kind the
// loaded policies apply to, evaluates each object with input.context.mode
// "audit" when it changes and again in a full sweep at an interval, keeps
// every object's result (passes and every violation), delivers them to the
// store or the central server (which turn what opened and resolved into
// trail events), and publishes bounded PolicyReports in the cluster.
//
// It runs inside a controller-runtime manager: the manager's cache holds the
// watched objects (trimmed, see Trim), and the Auditor is a Runnable that
// runs on the elected leader only.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// ImageFacts describes the images of an object for input.context.images.
type ImageFacts func(ctx context.Context, req input.Request, refs []string) map[string]input.Image

// NoScanner describes images from their references alone, as not scanned.
func NoScanner(_ context.Context, _ input.Request, refs []string) map[string]input.Image {
	out := make(map[string]input.Image, len(refs))
	for _, ref := range refs {
		out[ref] = images.Describe(ref, "no scanner is configured for this cluster")
	}
	return out
}

// Options configure an Auditor.
type Options struct {
	Engine *policy.Engine
	Sink   Sink
	// Cluster names the cluster in findings and the trail; default: the
	// configuration's cluster.name.
	Cluster string
	// Interval is the time between full sweeps; default 1h. A sweep also
	// follows every change of the policy set or configuration.
	Interval time.Duration
	// Debounce is how long a changed object waits before it is evaluated, so
	// a burst of updates is evaluated once; default 1s.
	Debounce time.Duration
	// Workers evaluate objects in parallel; default one per CPU.
	Workers int
	// RefreshAfter is how old the store's record of an unchanged result may
	// grow before it is written again (to move its findings' LastSeen);
	// default 24h. Changed results are always written at once.
	RefreshAfter time.Duration
	// ExemptNamespaces are not evaluated, as at admission.
	ExemptNamespaces []string
	// Images fills input.context.images; default NoScanner.
	Images ImageFacts
	// ScanDB, when set, is followed every ScanDBInterval (default 1m): an
	// updated vulnerability database, or a scanner usable again after it was
	// not, starts a sweep.
	ScanDB         ScanDatabase
	ScanDBInterval time.Duration
	// RecheckMin and RecheckMax bound the wait before an object whose image
	// facts were provisional (a scan pending, a result from an older
	// database) is evaluated again: it doubles from RecheckMin (default 5s)
	// up to RecheckMax (default 5m) while they stay provisional.
	RecheckMin, RecheckMax time.Duration

	// QueueDir, when set, is the directory of a durable queue on disk that
	// holds the results taken for the sink until it takes them: a sink
	// outage then delays results but loses none, not even the changes of an
	// object in between, and a restart loses nothing queued. Give each
	// replica its own. Empty: results wait in memory, only each object's
	// latest, and a restart loses what was not delivered.
	QueueDir string
	// QueueBudget is the most disk the queue may take; default 256 MiB, at
	// least MinQueueBudget. When it is full, results wait in memory until
	// there is room.
	QueueBudget int64

	Reports ReportOptions
	// Once runs one full sweep, publishes the reports and returns.
	Once bool
	// VersionCheck is how often the policy set is checked for a reload; default 5s.
	VersionCheck time.Duration

	Metrics *Metrics // nil creates an unregistered set
	Logger  *slog.Logger
	Now     func() time.Time
}

// ReportOptions configure the PolicyReports.
type ReportOptions struct {
	Disabled bool
	// Name of every report; default "bailiff-audit".
	Name string
	// MaxResults caps the results each report lists; default 1000.
	MaxResults int
	// MaxBytes caps a report's approximate size; default 1 MiB.
	MaxBytes int
	// MinInterval is the least time between two writes of one report; default 10s.
	MinInterval time.Duration
}

func (o *Options) defaults() {
	if o.Interval <= 0 {
		o.Interval = time.Hour
	}
	if o.Debounce <= 0 {
		o.Debounce = time.Second
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.RefreshAfter <= 0 {
		o.RefreshAfter = 24 * time.Hour
	}
	if o.Images == nil {
		o.Images = NoScanner
	}
	if o.VersionCheck <= 0 {
		o.VersionCheck = 5 * time.Second
	}
	if o.ScanDBInterval <= 0 {
		o.ScanDBInterval = time.Minute
	}
	if o.RecheckMin <= 0 {
		o.RecheckMin = 5 * time.Second
	}
	if o.RecheckMax < o.RecheckMin {
		o.RecheckMax = max(5*time.Minute, o.RecheckMin)
	}
	if o.QueueBudget <= 0 {
		o.QueueBudget = 256 << 20
	}
	if o.Reports.Name == "" {
		o.Reports.Name = "bailiff-audit"
	}
	if o.Reports.MaxResults <= 0 {
		o.Reports.MaxResults = DefaultReportMaxResults
	}
	if o.Reports.MaxBytes <= 0 {
		o.Reports.MaxBytes = DefaultReportMaxBytes
	}
	if o.Reports.MinInterval <= 0 {
		o.Reports.MinInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Context kinds: what input.context needs of the cluster.
var (
	namespaceGVK    = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	storageClassGVK = schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}
)

// Auditor evaluates the cluster's objects in the background.
type Auditor struct {
	opts      Options
	cluster   string
	cache     cache.Cache
	discovery discovery.DiscoveryInterface
	queue     workqueue.TypedRateLimitingInterface[objectKey]
	recheck   workqueue.TypedRateLimiter[objectKey] // waits of objects with provisional image facts
	metrics   *Metrics
	log       *slog.Logger
	sink      *sinkPipe
	reports   *reporter

	mu          sync.Mutex
	targets     map[schema.GroupVersionKind]Target
	handlers    map[schema.GroupVersionKind]toolscache.ResourceEventHandlerRegistration
	states      map[objectKey]*objectState
	byNamespace map[string]map[objectKey]bool
	owners      map[types.UID]ownerMemo
	sweep       *sweepState
	applicable  applicableCache

	epoch          atomic.Int64 // moves when namespaces, storage classes or the scanner's database change
	storageClasses atomic.Pointer[map[string]map[string]any]
	sweeps         atomic.Int64
	scanDBTime     atomic.Int64 // UpdatedAt of the scanner's database, Unix nanoseconds; 0 if unknown

	done chan struct{}
	err  error
}

// New builds an auditor on mgr's cache and client and adds it to mgr as a
// Runnable that needs leader election. The manager's cache should use Trim
// as its default transform.
func New(mgr manager.Manager, opts Options) (*Auditor, error) {
	a, err := newAuditor(mgr.GetCache(), mgr.GetClient(), opts)
	if err != nil {
		return nil, err
	}
	a.discovery, err = discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	if err := mgr.Add(a); err != nil {
		return nil, err
	}
	return a, nil
}

func newAuditor(c cache.Cache, cl client.Client, opts Options) (*Auditor, error) {
	opts.defaults()
	if opts.Engine == nil || opts.Sink == nil {
		return nil, errors.New("the auditor needs an engine and a sink")
	}
	if opts.QueueDir != "" && opts.QueueBudget < MinQueueBudget {
		return nil, fmt.Errorf("the audit queue's disk budget is %d bytes: give it at least %d", opts.QueueBudget, MinQueueBudget)
	}
	cluster := opts.Cluster
	if cluster == "" {
		cluster = opts.Engine.Set().Config().Cluster.Name
	}
	if err := trail.ValidateClusterName(cluster); err != nil {
		return nil, fmt.Errorf("%w: name the cluster with --cluster or cluster.name in the configuration", err)
	}
	metrics := opts.Metrics
	if metrics == nil {
		metrics, _ = NewMetrics(nil)
	}
	a := &Auditor{
		opts: opts, cluster: cluster, cache: c, metrics: metrics, log: opts.Logger,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[objectKey](time.Second, 5*time.Minute),
			workqueue.TypedRateLimitingQueueConfig[objectKey]{Name: "bailiff_audit"}),
		recheck:     workqueue.NewTypedItemExponentialFailureRateLimiter[objectKey](opts.RecheckMin, opts.RecheckMax),
		targets:     map[schema.GroupVersionKind]Target{},
		handlers:    map[schema.GroupVersionKind]toolscache.ResourceEventHandlerRegistration{},
		states:      map[objectKey]*objectState{},
		byNamespace: map[string]map[objectKey]bool{},
		owners:      map[types.UID]ownerMemo{},
		done:        make(chan struct{}),
	}
	a.sink = newSinkPipe(a)
	a.reports = newReporter(a, cl)
	empty := map[string]map[string]any{}
	a.storageClasses.Store(&empty)
	return a, nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the
// leader evaluates and writes.
func (a *Auditor) NeedLeaderElection() bool { return true }

// Done is closed when Start has returned.
func (a *Auditor) Done() <-chan struct{} { return a.done }

// Err is why Start failed, once Done is closed; nil after a clean stop.
func (a *Auditor) Err() error { return a.err }

// Cluster is the name results are recorded under.
func (a *Auditor) Cluster() string { return a.cluster }

// Start implements manager.Runnable: it watches, sweeps and publishes until
// ctx ends (or after one sweep, with Options.Once).
func (a *Auditor) Start(ctx context.Context) error {
	defer close(a.done)
	err := a.run(ctx)
	if ctx.Err() != nil && !a.opts.Once {
		err = nil
	}
	a.err = err
	return err
}

func (a *Auditor) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.opts.QueueDir != "" {
		if err := a.openQueue(ctx); err != nil {
			return err
		}
		defer a.sink.closeDisk() // deferred before the pipe starts: closes after it stopped
	}
	if err := a.watchContext(ctx); err != nil {
		return err
	}
	if err := a.syncTargets(ctx); err != nil {
		return err
	}
	if err := a.prime(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer a.queue.ShutDown() // after cancel: workers finish what is queued, failing fast, and return
	defer cancel()
	wg.Go(func() { a.sink.run(ctx) })
	for range a.opts.Workers {
		wg.Go(func() { a.work(ctx) })
	}
	if !a.opts.Reports.Disabled && !a.opts.Once {
		wg.Go(func() { a.reports.run(ctx) })
	}
	scanDBSweeps := make(chan string, 1)
	if a.opts.ScanDB != nil && !a.opts.Once {
		wg.Go(func() { a.followScanDB(ctx, scanDBSweeps) })
	}
	if err := a.runSweep(ctx, "start"); err != nil {
		return err
	}
	if a.opts.Once {
		if !a.opts.Reports.Disabled {
			a.reports.publish(ctx, true)
		}
		return nil
	}
	version := a.opts.Engine.Set().Version()
	sweeps := time.NewTicker(a.opts.Interval)
	defer sweeps.Stop()
	checks := time.NewTicker(a.opts.VersionCheck)
	defer checks.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sweeps.C:
			if err := a.runSweep(ctx, "interval"); err != nil {
				return err
			}
		case reason := <-scanDBSweeps:
			if err := a.runSweep(ctx, reason); err != nil {
				return err
			}
		case <-checks.C:
			v := a.opts.Engine.Set().Version()
			if v == version {
				continue
			}
			version = v
			a.log.Info("the policy set changed: watching the kinds it needs and sweeping", "version", v)
			if err := a.syncTargets(ctx); err != nil {
				a.log.Error("cannot watch the kinds of the new policy set", "error", err)
			}
			if err := a.runSweep(ctx, "policy set "+v); err != nil {
				return err
			}
		}
	}
}

// watchContext starts the informers input.context is built from.
func (a *Auditor) watchContext(ctx context.Context) error {
	nsInf, err := a.cache.GetInformer(ctx, newObject(namespaceGVK))
	if err != nil {
		return fmt.Errorf("watch namespaces: %w", err)
	}
	_, err = nsInf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*unstructured.Unstructured)
			n, ok2 := newObj.(*unstructured.Unstructured)
			if ok1 && ok2 && (!maps.Equal(o.GetLabels(), n.GetLabels()) || !maps.Equal(o.GetAnnotations(), n.GetAnnotations())) {
				a.epoch.Add(1)
				a.enqueueWhere(func(k objectKey) bool { return k.namespace == n.GetName() })
			}
		},
	})
	if err != nil {
		return err
	}
	scInf, err := a.cache.GetInformer(ctx, newObject(storageClassGVK))
	if err != nil {
		return fmt.Errorf("watch storage classes: %w", err)
	}
	changed := func() {
		if err := a.loadStorageClasses(ctx); err != nil {
			a.log.Error("cannot read storage classes", "error", err)
		}
		a.epoch.Add(1)
		a.enqueueWhere(func(k objectKey) bool { return k.gvk.Kind == "PersistentVolumeClaim" || k.gvk.Kind == "StatefulSet" })
	}
	_, err = scInf.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(any, bool) { changed() },
		UpdateFunc: func(any, any) { changed() },
		DeleteFunc: func(any) { changed() },
	})
	if err != nil {
		return err
	}
	return a.loadStorageClasses(ctx)
}

func (a *Auditor) loadStorageClasses(ctx context.Context) error {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(storageClassGVK.GroupVersion().WithKind("StorageClassList"))
	if err := a.cache.List(ctx, list); err != nil {
		return err
	}
	out := make(map[string]map[string]any, len(list.Items))
	for _, sc := range list.Items {
		out[sc.GetName()] = sc.Object
	}
	a.storageClasses.Store(&out)
	return nil
}

// syncTargets discovers the kinds the policy set needs, starts watching the
// new ones and stops watching those no longer needed.
func (a *Auditor) syncTargets(ctx context.Context) error {
	lists, err := a.discovery.ServerPreferredResources()
	if err != nil {
		if len(lists) == 0 || !discovery.IsGroupDiscoveryFailedError(err) {
			return fmt.Errorf("discover the API server's resources: %w", err)
		}
		a.log.Warn("some API groups could not be discovered; their kinds are not audited until the next policy change or restart", "error", err)
	}
	kinds, all := policyKinds(a.opts.Engine.Set().Policies())
	wanted := resolveTargets(kinds, all, lists)
	want := map[schema.GroupVersionKind]Target{}
	for _, t := range wanted {
		want[t.GVK] = t
		a.mu.Lock()
		_, have := a.targets[t.GVK]
		a.mu.Unlock()
		if have {
			continue
		}
		inf, err := a.cache.GetInformer(ctx, newObject(t.GVK))
		if err != nil {
			return fmt.Errorf("watch %s: %w", t.GVK, err)
		}
		reg, err := inf.AddEventHandler(a.handler(t.GVK))
		if err != nil {
			return fmt.Errorf("watch %s: %w", t.GVK, err)
		}
		a.mu.Lock()
		a.targets[t.GVK] = t
		a.handlers[t.GVK] = reg
		a.mu.Unlock()
	}
	a.mu.Lock()
	var gone []schema.GroupVersionKind
	for gvk := range a.targets {
		if _, ok := want[gvk]; !ok {
			gone = append(gone, gvk)
			delete(a.targets, gvk)
		}
	}
	a.mu.Unlock()
	for _, gvk := range gone {
		if gvk != namespaceGVK && gvk != storageClassGVK {
			if err := a.cache.RemoveInformer(ctx, newObject(gvk)); err != nil {
				a.log.Warn("cannot stop watching a kind no policy needs any more", "kind", gvk.String(), "error", err)
			}
		}
	}
	names := make([]string, 0, len(wanted))
	for _, t := range wanted {
		names = append(names, t.GVK.Kind+"."+t.GVK.Group)
	}
	a.log.Info("watching the kinds the policies apply to", "kinds", names)
	return nil
}

// handler turns informer events into work: adds and real changes wait out
// the debounce; deletions are handled at once. The initial list is left to
// the first sweep.
func (a *Auditor) handler(gvk schema.GroupVersionKind) toolscache.ResourceEventHandler {
	key := func(obj any) (objectKey, bool) {
		if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return objectKey{}, false
		}
		return objectKey{gvk: gvk, namespace: u.GetNamespace(), name: u.GetName()}, true
	}
	return toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if k, ok := key(obj); ok && !initial {
				a.queue.AddAfter(k, a.opts.Debounce)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*unstructured.Unstructured)
			n, ok2 := newObj.(*unstructured.Unstructured)
			if ok1 && ok2 && sameContent(o, n) {
				return
			}
			if k, ok := key(newObj); ok {
				a.queue.AddAfter(k, a.opts.Debounce)
			}
		},
		DeleteFunc: func(obj any) {
			if k, ok := key(obj); ok {
				a.queue.Add(k)
			}
		},
	}
}

// enqueueWhere queues every known object that matches.
func (a *Auditor) enqueueWhere(match func(objectKey) bool) {
	a.mu.Lock()
	var keys []objectKey
	for k := range a.states {
		if match(k) {
			keys = append(keys, k)
		}
	}
	a.mu.Unlock()
	for _, k := range keys {
		a.queue.AddAfter(k, a.opts.Debounce)
	}
}

// prime learns from the sink which objects have open findings, so that an
// unchanged result is not written again after a restart, and an object
// deleted while the auditor was down is forgotten by the first sweep.
func (a *Auditor) prime(ctx context.Context) error {
	byUID := map[string][]store.Finding{}
	wait := time.Second
	for {
		clear(byUID)
		err := a.opts.Sink.OpenFindings(ctx, a.cluster, func(fs []store.Finding) error {
			for _, f := range fs {
				byUID[f.UID] = append(byUID[f.UID], f)
			}
			return nil
		})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.log.Error(fmt.Sprintf("cannot read open findings from %s: %v; retrying in %s", a.opts.Sink.Name(), err, wait), "sink", a.opts.Sink.Name())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
	now := a.opts.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for uid, fs := range byUID {
		ref := fs[0].ObjectRef
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			continue
		}
		k := objectKey{gvk: gv.WithKind(ref.Kind), namespace: ref.Namespace, name: ref.Name}
		// Spread the refreshes of unchanged results over RefreshAfter.
		age := time.Duration(uint64(fingerprint([]store.Violation{{PolicyID: uid}})) % uint64(a.opts.RefreshAfter))
		a.addState(k, &objectState{ref: ref, queued: fingerprint(findingViolations(fs)), known: true, syncedAt: now.Add(-age)})
	}
	a.log.Info("read the open findings of earlier runs", "sink", a.opts.Sink.Name(), "objects", len(byUID))
	return nil
}

// addState records st under k; the caller holds a.mu.
func (a *Auditor) addState(k objectKey, st *objectState) {
	a.states[k] = st
	ns := a.byNamespace[k.namespace]
	if ns == nil {
		ns = map[objectKey]bool{}
		a.byNamespace[k.namespace] = ns
	}
	ns[k] = true
	a.metrics.objects.Set(float64(len(a.states)))
}

// removeState forgets k; the caller holds a.mu.
func (a *Auditor) removeState(k objectKey) {
	delete(a.states, k)
	if ns := a.byNamespace[k.namespace]; ns != nil {
		delete(ns, k)
		if len(ns) == 0 {
			delete(a.byNamespace, k.namespace)
		}
	}
	a.metrics.objects.Set(float64(len(a.states)))
}

// sweepState tracks one full sweep until every object it queued has been
// processed since it began.
type sweepState struct {
	start   time.Time
	pending map[objectKey]bool
	done    chan struct{}
}

// runSweep re-evaluates every watched object, and forgets every known
// object no cache holds any more.
func (a *Auditor) runSweep(ctx context.Context, reason string) error {
	start := a.opts.Now()
	a.mu.Lock()
	targets := slices.Collect(maps.Values(a.targets))
	a.mu.Unlock()
	pending := map[objectKey]bool{}
	for _, t := range targets {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(t.GVK.GroupVersion().WithKind(t.GVK.Kind + "List"))
		if err := a.cache.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			a.log.Error("cannot list a watched kind from the cache", "kind", t.GVK.String(), "error", err)
			continue
		}
		for i := range list.Items {
			pending[objectKey{gvk: t.GVK, namespace: list.Items[i].GetNamespace(), name: list.Items[i].GetName()}] = true
		}
	}
	s := &sweepState{start: start, pending: pending, done: make(chan struct{})}
	a.mu.Lock()
	for k := range a.states {
		pending[k] = true // gone from the cluster, or of a kind no longer watched: the worker forgets it
	}
	keys := slices.Collect(maps.Keys(pending)) // workers change pending from now on
	objects := len(keys)
	if objects == 0 {
		close(s.done)
	}
	a.sweep = s
	a.mu.Unlock()
	for _, k := range keys {
		a.queue.Add(k)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
	}
	evaluated := a.opts.Now().Sub(start)
	if err := a.sink.flush(ctx); err != nil {
		return err
	}
	total := a.opts.Now().Sub(start)
	a.metrics.sweepDuration.WithLabelValues("evaluate").Observe(evaluated.Seconds())
	a.metrics.sweepDuration.WithLabelValues("total").Observe(total.Seconds())
	a.metrics.lastSweep.Set(float64(a.opts.Now().Unix()))
	a.sweeps.Add(1)
	a.mu.Lock()
	tracked, failing := len(a.states), 0
	for _, st := range a.states {
		if len(st.violations) > 0 {
			failing++
		}
	}
	a.sweep = nil
	a.mu.Unlock()
	a.reports.markAll()
	a.log.Info("sweep done", "reason", reason, "objects", objects, "tracked", tracked, "failing", failing,
		"evaluateSeconds", evaluated.Seconds(), "totalSeconds", total.Seconds())
	return nil
}

// Sweeps is how many full sweeps have completed.
func (a *Auditor) Sweeps() int64 { return a.sweeps.Load() }

// processed records that k was processed from started on, for the sweep.
func (a *Auditor) processed(k objectKey, started time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sweep
	if s == nil || started.Before(s.start) || !s.pending[k] {
		return
	}
	delete(s.pending, k)
	if len(s.pending) == 0 {
		close(s.done)
	}
}

// work processes queued objects until the queue shuts down.
func (a *Auditor) work(ctx context.Context) {
	for {
		k, shutdown := a.queue.Get()
		if shutdown {
			return
		}
		started := a.opts.Now()
		if err := a.process(ctx, k, started); err != nil && ctx.Err() == nil {
			if a.queue.NumRequeues(k) < 5 {
				a.queue.AddRateLimited(k)
			} else {
				a.log.Error("giving up on an object after repeated failures until the next sweep", "object", k.String(), "error", err)
				a.queue.Forget(k)
			}
		} else {
			a.queue.Forget(k)
		}
		a.queue.Done(k)
		a.processed(k, started)
	}
}

// process evaluates the object k names as the cache holds it now, or
// forgets it if it is gone.
func (a *Auditor) process(ctx context.Context, k objectKey, at time.Time) error {
	obj, err := a.get(ctx, k.gvk, k.namespace, k.name)
	if err != nil {
		return err
	}
	if obj == nil {
		return a.forget(k, at)
	}
	kind := k.gvk.Kind
	if slices.Contains(a.opts.ExemptNamespaces, k.namespace) && k.namespace != "" {
		a.metrics.evaluated.WithLabelValues(kind, "skipped").Inc()
		return a.forget(k, at)
	}
	a.mu.Lock()
	st := a.states[k]
	a.mu.Unlock()
	if st != nil && st.ref.UID != string(obj.GetUID()) {
		// Deleted and created again under the same name.
		if err := a.forget(k, at); err != nil {
			return err
		}
	}
	mode := reportAll
	if ctrl := controllerOf(obj); ctrl != nil {
		mode = modeFor(kind, ctrl.Kind, a.watched(ctrl.APIVersion, ctrl.Kind))
	}
	if mode == reportNone {
		a.metrics.evaluated.WithLabelValues(kind, "skipped").Inc()
		return a.forget(k, at)
	}
	res, provisional, err := a.evaluate(ctx, obj)
	if provisional {
		a.metrics.rechecks.Inc()
		a.queue.AddAfter(k, a.recheck.When(k))
	} else {
		a.recheck.Forget(k)
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		a.metrics.evaluated.WithLabelValues(kind, "error").Inc()
		a.log.Error("cannot evaluate an object", "object", k.String(), "error", err)
		a.record(k, obj, outcome{errMsg: err.Error()}, at)
		return nil
	}
	if _, ok := input.PodSpecKeys(kind); ok && kind != "Pod" {
		a.rememberOwner(obj, res)
	}
	out := outcome{violations: res.Violations, exempted: res.Exempted, setVersion: res.PolicySetVersion}
	if mode == reportDifference {
		if top := a.topController(ctx, obj); top != nil {
			keys, err := a.ownerKeysOf(ctx, top)
			if err != nil {
				return err
			}
			out.violations, out.covered = difference(res.Violations, keys)
			out.owner = top.GetKind() + "/" + top.GetName()
		}
	}
	if len(out.violations) > 0 {
		a.metrics.evaluated.WithLabelValues(kind, "fail").Inc()
	} else {
		a.metrics.evaluated.WithLabelValues(kind, "pass").Inc()
	}
	a.record(k, obj, out, at)
	return nil
}

// outcome is what one evaluation of an object reports.
type outcome struct {
	violations []policy.Violation
	exempted   []policy.ExemptedViolation
	covered    []string
	owner      string
	errMsg     string
	setVersion string
}

// record keeps an object's outcome, hands a changed (or stale) result to
// the sink, and marks its report for publishing if what it shows changed.
func (a *Auditor) record(k objectKey, obj *unstructured.Unstructured, out outcome, at time.Time) {
	ref := store.ObjectRef{
		Cluster: a.cluster, UID: string(obj.GetUID()), APIVersion: obj.GetAPIVersion(),
		Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(),
	}
	fp := sendFingerprint(storeViolations(out.violations), out.exempted)
	a.mu.Lock()
	st := a.states[k]
	if st == nil {
		st = &objectState{}
		a.addState(k, st)
	}
	before := reportView(st)
	oldRefs := violationRefs(st.violations)
	st.ref, st.owner, st.violations, st.exempted, st.covered, st.errMsg = ref, out.owner, out.violations, out.exempted, out.covered, out.errMsg
	st.evaluatedAt, st.evaluated = at, true
	send := out.errMsg == "" && (fp != st.queued || at.Sub(st.syncedAt) >= a.opts.RefreshAfter)
	st.setVersion = out.setVersion
	if send {
		st.queued, st.known = fp, true
		a.sink.markDue(k)
	}
	changed := reportView(st) != before
	a.mu.Unlock()
	a.metrics.countViolations(oldRefs, violationRefs(out.violations))
	if changed {
		a.reports.mark(k.namespace)
	}
}

// reportView summarises what an object shows in its report.
func reportView(st *objectState) string {
	if !st.evaluated {
		return ""
	}
	vs := storeViolations(st.violations)
	for _, e := range st.exempted {
		vs = append(vs, store.Violation{PolicyID: "exempt:" + e.Violation.Policy, Message: e.Violation.Message})
	}
	for _, c := range st.covered {
		vs = append(vs, store.Violation{PolicyID: "covered:" + c})
	}
	return fmt.Sprintf("%x|%s|%s", fingerprint(vs), st.errMsg, st.owner)
}

func violationRefs(vs []policy.Violation) []policyViolationRef {
	out := make([]policyViolationRef, len(vs))
	for i, v := range vs {
		out[i] = policyViolationRef{v.Policy, v.Severity}
	}
	return out
}

// forget drops what is known of an object that is gone (or no longer
// reported), resolving its findings.
func (a *Auditor) forget(k objectKey, at time.Time) error {
	a.mu.Lock()
	st := a.states[k]
	if st == nil {
		a.mu.Unlock()
		return nil
	}
	a.removeState(k)
	delete(a.owners, types.UID(st.ref.UID))
	if st.known {
		ref := st.ref
		ref.Cluster = a.cluster
		a.sink.markDeleted(k, results.Deletion{Object: ref, DeletedAt: at})
	}
	a.mu.Unlock()
	a.metrics.countViolations(violationRefs(st.violations), nil)
	a.reports.mark(k.namespace)
	return nil
}

// watched reports whether objects of a kind are in the cache.
func (a *Auditor) watched(apiVersion, kind string) bool {
	_, ok := a.targetGVK(apiVersion, kind)
	return ok
}

// targetGVK finds the watched kind an owner reference names, whatever
// version it was written in.
func (a *Auditor) targetGVK(apiVersion, kind string) (schema.GroupVersionKind, bool) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionKind{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for gvk := range a.targets {
		if gvk.Group == gv.Group && gvk.Kind == kind {
			return gvk, true
		}
	}
	return schema.GroupVersionKind{}, false
}

// get reads an object from the cache without copying it (never modify it);
// nil if it does not exist or its kind is not watched.
func (a *Auditor) get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	a.mu.Lock()
	_, ok := a.targets[gvk]
	a.mu.Unlock()
	if !ok && gvk != namespaceGVK {
		return nil, nil
	}
	obj := newObject(gvk)
	err := a.cache.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// evaluate runs the validating policies on obj as it is: the cluster holds
// what admission already mutated, and what runs is what is judged.
//
// Provisional says the object's image facts will change on their own (see
// Auditor.provisional), so it should be evaluated again soon.
func (a *Auditor) evaluate(ctx context.Context, obj *unstructured.Unstructured) (res *policy.Result, provisional bool, err error) {
	set := a.opts.Engine.Set()
	req, err := input.ForObject(obj.Object)
	if err != nil {
		return nil, false, err
	}
	cluster := set.Config().Cluster
	ictx := input.Context{
		Mode:           input.ModeAudit,
		Cluster:        input.Cluster{Name: cluster.Name, Region: cluster.Region, Labels: cluster.Labels},
		StorageClasses: *a.storageClasses.Load(),
	}
	if req.Namespace != "" {
		ns, err := a.get(ctx, namespaceGVK, "", req.Namespace)
		if err != nil {
			return nil, false, err
		}
		if ns != nil {
			ictx.Namespace = &input.Namespace{Name: ns.GetName(), Labels: ns.GetLabels(), Annotations: ns.GetAnnotations()}
		}
	}
	if refs := input.ContainerImages(req.Object, req.Kind.Kind); len(refs) > 0 {
		ictx.Images = a.opts.Images(ctx, req, refs)
		provisional = a.provisional(ictx.Images)
	}
	in, err := input.New(req, ictx)
	if err != nil {
		return nil, false, fmt.Errorf("build policy input: %w", err)
	}
	res, err = a.opts.Engine.EvaluateWith(ctx, set, in) // the set the input was built from
	return res, provisional, err
}

// ownerMemo is a controller's violation keys, valid while its spec, the
// policy set and the cluster context stay as they were.
type ownerMemo struct {
	version    string // generation, or resourceVersion for kinds without one
	setVersion string
	epoch      int64
	keys       map[string]bool
}

func objectVersion(obj *unstructured.Unstructured) string {
	if g := obj.GetGeneration(); g > 0 {
		return fmt.Sprint("g", g)
	}
	return "r" + obj.GetResourceVersion()
}

// rememberOwner keeps a workload's violation keys for its Pods.
func (a *Auditor) rememberOwner(obj *unstructured.Unstructured, res *policy.Result) {
	m := ownerMemo{version: objectVersion(obj), setVersion: res.PolicySetVersion, epoch: a.epoch.Load(), keys: ownerKeys(obj.GetKind(), res)}
	a.mu.Lock()
	a.owners[obj.GetUID()] = m
	a.mu.Unlock()
}

// ownerKeysOf returns a controller's violation keys, evaluating it unless
// a still valid memo has them.
func (a *Auditor) ownerKeysOf(ctx context.Context, owner *unstructured.Unstructured) (map[string]bool, error) {
	a.mu.Lock()
	m, ok := a.owners[owner.GetUID()]
	a.mu.Unlock()
	if ok && m.version == objectVersion(owner) && m.setVersion == a.opts.Engine.Set().Version() && m.epoch == a.epoch.Load() {
		return m.keys, nil
	}
	res, _, err := a.evaluate(ctx, owner) // provisional facts: the owner is rechecked on its own
	if err != nil {
		return nil, fmt.Errorf("evaluate the controller %s/%s: %w", owner.GetKind(), owner.GetName(), err)
	}
	a.rememberOwner(owner, res)
	return ownerKeys(owner.GetKind(), res), nil
}

// topController follows an object's controller references through the
// watched workloads (Pod → ReplicaSet → Deployment) and returns the last it
// finds, or nil.
func (a *Auditor) topController(ctx context.Context, obj *unstructured.Unstructured) *unstructured.Unstructured {
	var top *unstructured.Unstructured
	cur := obj
	for range 4 {
		ref := controllerOf(cur)
		if ref == nil || !slices.Contains(input.WorkloadKinds(), ref.Kind) {
			break
		}
		gvk, ok := a.targetGVK(ref.APIVersion, ref.Kind)
		if !ok {
			break
		}
		owner, err := a.get(ctx, gvk, obj.GetNamespace(), ref.Name)
		if err != nil || owner == nil || owner.GetUID() != ref.UID {
			break
		}
		top, cur = owner, owner
	}
	return top
}

// newObject is an empty unstructured object of a kind, for the cache.
func newObject(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}
