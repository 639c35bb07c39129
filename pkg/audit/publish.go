package audit

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy"
)

// FieldManager owns the reports' fields in server-side apply.
const FieldManager = "bailiff-audit"

// reporter publishes one PolicyReport per namespace and one
// ClusterPolicyReport, each rewritten only when what it shows changed and
// at most once per MinInterval.
type reporter struct {
	a      *Auditor
	client client.Client
	opts   ReportOptions

	mu          sync.Mutex
	dirty       map[string]bool
	last        map[string]time.Time
	missingCRDs bool
}

func newReporter(a *Auditor, c client.Client) *reporter {
	return &reporter{a: a, client: c, opts: a.opts.Reports, dirty: map[string]bool{}, last: map[string]time.Time{}}
}

// mark says a namespace's report ("" for the cluster's) needs writing.
func (r *reporter) mark(namespace string) {
	if r.opts.Disabled {
		return
	}
	r.mu.Lock()
	r.dirty[namespace] = true
	r.mu.Unlock()
}

// markAll marks every report with objects, after a sweep.
func (r *reporter) markAll() {
	r.a.mu.Lock()
	namespaces := make([]string, 0, len(r.a.byNamespace))
	for ns := range r.a.byNamespace {
		namespaces = append(namespaces, ns)
	}
	r.a.mu.Unlock()
	for _, ns := range namespaces {
		r.mark(ns)
	}
}

func (r *reporter) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.publish(ctx, false)
		}
	}
}

// publish writes the marked reports whose last write is MinInterval ago,
// or all marked ones if force.
func (r *reporter) publish(ctx context.Context, force bool) {
	now := r.a.opts.Now()
	r.mu.Lock()
	var due []string
	for ns := range r.dirty {
		if force || now.Sub(r.last[ns]) >= r.opts.MinInterval {
			due = append(due, ns)
			delete(r.dirty, ns)
			r.last[ns] = now
		}
	}
	r.mu.Unlock()
	slices.Sort(due)
	for _, ns := range due {
		if ctx.Err() != nil {
			return
		}
		if err := r.write(ctx, ns); err != nil {
			r.a.metrics.reportWrites.WithLabelValues("error").Inc()
			if meta.IsNoMatchError(err) {
				r.mu.Lock()
				first := !r.missingCRDs
				r.missingCRDs, r.dirty[ns] = true, true
				r.mu.Unlock()
				if first {
					r.a.log.Warn("the PolicyReport CRDs (wgpolicyk8s.io/v1alpha2) are not installed, so no reports are written; findings still reach the store. Install charts/bailiff/crds/", "error", err)
				}
				continue
			}
			if !apierrors.IsNotFound(err) { // a namespace being deleted takes its report with it
				r.mark(ns)
				r.a.log.Error("cannot write a policy report", "namespace", ns, "error", err)
			}
		}
	}
}

// write applies a namespace's report, or deletes it when no object is left.
func (r *reporter) write(ctx context.Context, namespace string) error {
	in, ok := r.a.reportInput(namespace)
	gvk := schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: ReportKind}
	if namespace == "" {
		gvk.Kind = ClusterReportKind
	}
	if !ok {
		u := newObject(gvk)
		u.SetNamespace(namespace)
		u.SetName(r.opts.Name)
		err := r.client.Delete(ctx, u)
		if err == nil {
			r.a.metrics.reportWrites.WithLabelValues("deleted").Inc()
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	u, err := toUnstructured(buildReport(in))
	if err != nil {
		return err
	}
	if err := r.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return err
	}
	r.mu.Lock()
	r.missingCRDs = false
	r.mu.Unlock()
	r.a.metrics.reportWrites.WithLabelValues("applied").Inc()
	return nil
}

func toUnstructured(rep PolicyReport) (*unstructured.Unstructured, error) {
	raw, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(raw, &u.Object); err != nil {
		return nil, err
	}
	return u, nil
}

// reportInput gathers what a namespace's report is built from; false when
// the auditor holds no evaluated object there.
func (a *Auditor) reportInput(namespace string) (reportInput, bool) {
	a.mu.Lock()
	objs := make([]reportObject, 0, len(a.byNamespace[namespace]))
	for k := range a.byNamespace[namespace] {
		st := a.states[k]
		if st == nil || !st.evaluated {
			continue
		}
		objs = append(objs, reportObject{
			ref: st.ref, owner: st.owner, violations: st.violations, exempted: st.exempted,
			covered: st.covered, errMsg: st.errMsg, evaluatedAt: st.evaluatedAt,
		})
	}
	a.mu.Unlock()
	set := a.opts.Engine.Set()
	policies, applicable := a.applicable.of(set)
	return reportInput{
		name: a.opts.Reports.Name, namespace: namespace, cluster: a.cluster, objects: objs,
		policies: policies, applicable: applicable, policySetVersion: set.Version(),
		maxResults: a.opts.Reports.MaxResults, maxBytes: a.opts.Reports.MaxBytes,
	}, len(objs) > 0
}

// applicableCache holds, for the policy set in force, the policies by ID and
// the validating policies of each kind.
type applicableCache struct {
	mu       sync.Mutex
	version  string
	policies map[string]policy.Metadata
	byKind   map[string][]string
}

func (c *applicableCache) of(set *policy.Set) (map[string]policy.Metadata, func(kind string) []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != set.Version() || c.policies == nil {
		c.version, c.policies, c.byKind = set.Version(), map[string]policy.Metadata{}, map[string][]string{}
		for _, p := range set.Policies() {
			c.policies[p.ID] = p
		}
	}
	policies, byKind := c.policies, c.byKind
	return policies, func(kind string) []string {
		c.mu.Lock()
		defer c.mu.Unlock()
		if ids, ok := byKind[kind]; ok {
			return ids
		}
		ids := []string{}
		for id, p := range policies {
			// Mutating policies are left out: the library's only patch, and
			// the auditor does not mutate.
			if !p.Mutates && p.AppliesTo(kind, input.OpCreate) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		byKind[kind] = ids
		return ids
	}
}
