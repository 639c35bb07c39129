package reports

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/trail"
	"golang.org/x/sync/errgroup"
)

// PolicyInfo is what a report says about a policy of the set in force.
type PolicyInfo struct {
	ID          string
	Title       string
	Severity    string
	Enforcement string // deny, warn, audit or mutate
	// AppliesTo says whether the policy checks objects of a kind; nil means any.
	AppliesTo func(kind string) bool
}

// PoliciesOf describes the policies of a loaded set, with the configuration's
// enforcement overrides applied.
func PoliciesOf(set *policy.Set) []PolicyInfo {
	var overrides map[string]string
	if cfg := set.Config(); cfg != nil {
		overrides = cfg.Enforcement
	}
	var out []PolicyInfo
	for _, p := range set.Policies() {
		enforcement := p.Enforcement
		if o, ok := overrides[p.ID]; ok {
			enforcement = o
		}
		if p.Mutates {
			enforcement = "mutate"
		}
		out = append(out, PolicyInfo{
			ID: p.ID, Title: p.Title, Severity: p.Severity, Enforcement: enforcement,
			AppliesTo: func(kind string) bool {
				return p.AppliesTo(kind, "CREATE") || p.AppliesTo(kind, "UPDATE")
			},
		})
	}
	return out
}

// ErrBadPeriod is a report request whose period ends before it starts.
var ErrBadPeriod = errors.New("bad report period")

// Generator makes reports. Its fields are the collaborators and facts every report
// needs; a server keeps one and calls Generate per request.
type Generator struct {
	Source    Source
	Catalogue *compliance.Catalogue
	// Policies are the policies in force, for titles, severities and applicability.
	Policies         []PolicyInfo
	PolicySetVersion string
	// Version is Bailiff's version, recorded in the report.
	Version string
	// Now tells the time; default time.Now.
	Now func() time.Time
}

// Request says what to report on.
type Request struct {
	// Cluster names the cluster of a cluster report; empty with Fleet.
	Cluster string
	// Fleet asks for every cluster the source knows in one report.
	Fleet bool
	// Framework is a framework ID of the catalogue, or compliance.All.
	Framework string
	// Period bounds admission activity and the trail range. A zero To means now,
	// and is also the snapshot time of the findings.
	Period Period
}

// Generate builds an unsigned report. Unknown clusters and frameworks are errors
// that name the valid ones (*UnknownClusterError, *compliance.UnknownFrameworkError).
// A trail that fails verification is not an error: the report says so.
func (g *Generator) Generate(ctx context.Context, req Request) (*Report, error) {
	if g.Source == nil || g.Catalogue == nil {
		return nil, errors.New("report generator needs a source and a catalogue")
	}
	frameworks, err := g.Catalogue.Select(req.Framework)
	if err != nil {
		return nil, err
	}
	clusters, err := g.clusters(ctx, req)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	generatedAt := trail.NormalizeTime(now())
	period := Period{From: req.Period.From, To: req.Period.To}
	if period.To.IsZero() {
		period.To = generatedAt
	}
	period.From, period.To = normalizeTime(period.From), normalizeTime(period.To)
	if !period.From.IsZero() && !period.From.Before(period.To) {
		return nil, fmt.Errorf("%w: its start %s is not before its end %s", ErrBadPeriod, period.From.Format(time.RFC3339), period.To.Format(time.RFC3339))
	}
	r := &Report{
		Schema:      SchemaV1,
		Scope:       ScopeCluster,
		GeneratedAt: generatedAt,
		Period:      period,
		Generator:   GeneratorInfo{Name: "bailiff", Version: cmp.Or(g.Version, "dev"), PolicySetVersion: g.PolicySetVersion},
	}
	if req.Fleet {
		r.Scope = ScopeFleet
	}
	for _, fw := range frameworks {
		r.Frameworks = append(r.Frameworks, FrameworkInfo{ID: fw.ID, Name: fw.Name, Version: fw.Version, URL: fw.URL})
	}
	policies := map[string]PolicyInfo{}
	for _, p := range g.Policies {
		policies[p.ID] = p
	}
	for _, cluster := range clusters {
		cr, err := g.cluster(ctx, cluster, period, frameworks, policies)
		if err != nil {
			return nil, err
		}
		r.Clusters = append(r.Clusters, cr)
	}
	r.Summary = summarize(r)
	if err := r.finalize(); err != nil {
		return nil, err
	}
	return r, nil
}

// normalizeTime keeps zero times zero and others in the trail's precision.
func normalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return trail.NormalizeTime(t)
}

// clusters resolves the request's clusters against the source.
func (g *Generator) clusters(ctx context.Context, req Request) ([]string, error) {
	if req.Fleet {
		if req.Cluster != "" {
			return nil, errors.New("ask for one cluster or the fleet, not both")
		}
		all, err := g.Source.Clusters(ctx)
		if err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		if len(all) == 0 {
			return nil, errors.New("the store has no cluster yet: nothing to report on")
		}
		return all, nil
	}
	if req.Cluster == "" {
		return nil, errors.New("name the cluster to report on, or ask for the fleet")
	}
	ok, err := g.Source.HasCluster(ctx, req.Cluster)
	if err != nil {
		return nil, fmt.Errorf("look up cluster %s: %w", req.Cluster, err)
	}
	if !ok {
		valid, err := g.Source.Clusters(ctx)
		if err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		return nil, &UnknownClusterError{Name: req.Cluster, Valid: valid}
	}
	return []string{req.Cluster}, nil
}

// clusterFacts is everything gathered about one cluster; deciding is pure from here.
type clusterFacts struct {
	findings   map[string][]Finding // by policy ID
	admissions Admissions
	trail      TrailRange
	inventory  Inventory
	policies   map[string]PolicyInfo
}

func (g *Generator) cluster(ctx context.Context, cluster string, period Period, frameworks []*compliance.Framework, policies map[string]PolicyInfo) (ClusterReport, error) {
	// The reads are independent; the trail's verification dominates, so they run
	// side by side.
	var (
		findings []Finding
		sum      TrailSummary
		inv      Inventory
	)
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() (err error) {
		if sum, err = g.Source.Trail(ectx, cluster, period); err != nil {
			return fmt.Errorf("trail of cluster %s: %w", cluster, err)
		}
		return nil
	})
	eg.Go(func() (err error) {
		if findings, err = g.Source.OpenFindings(ectx, cluster, period); err != nil {
			return fmt.Errorf("open findings of cluster %s: %w", cluster, err)
		}
		return nil
	})
	eg.Go(func() (err error) {
		if inv, err = g.Source.Inventory(ectx, cluster, period.To); err != nil {
			return fmt.Errorf("objects of cluster %s: %w", cluster, err)
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return ClusterReport{}, err
	}
	facts := clusterFacts{findings: map[string][]Finding{}, admissions: sum.Admissions, trail: sum.Range, inventory: inv, policies: policies}
	for _, f := range findings {
		f.Events = append(slices.Clip(f.Events), sum.Opened[f.ID]...)
		facts.findings[f.PolicyID] = append(facts.findings[f.PolicyID], f)
	}
	cr := ClusterReport{Cluster: cluster, Trail: sum.Range, Admissions: sum.Admissions.Totals, OpenFindings: len(findings)}
	for _, fw := range frameworks {
		res := FrameworkResult{Framework: fw.ID}
		for i := range fw.Controls {
			cres := g.control(&fw.Controls[i], facts)
			res.Controls.Add(cres.Status)
			res.Results = append(res.Results, cres)
		}
		res.Score = res.Controls.Score()
		cr.Frameworks = append(cr.Frameworks, res)
	}
	return cr, nil
}

// control decides one control from a cluster's facts.
func (g *Generator) control(ctl *compliance.Control, facts clusterFacts) ControlResult {
	res := ControlResult{
		Control: ctl.ID, Section: ctl.Section, Title: ctl.Title,
		Automation: ctl.Automation(), Guidance: oneLine(ctl.Guidance),
	}
	switch ctl.Automation() {
	case compliance.AutomationManual:
		res.Status, res.Reason = compliance.Manual, "Not automated: an auditor checks it as the guidance says."
		return res
	case compliance.AutomationTrail:
		res.Status, res.Reason = trailStatus(facts.trail)
		return res
	}
	ids := g.Catalogue.EffectivePolicies(ctl)
	var loaded, applicable int
	var failing []Finding
	for _, id := range ids {
		info, ok := facts.policies[id]
		pe := PolicyEvidence{Policy: id, Loaded: ok, OpenFindings: len(facts.findings[id]), Admission: facts.admissions.PerPolicy[id]}
		if ok {
			loaded++
			pe.Title, pe.Severity, pe.Enforcement = info.Title, info.Severity, info.Enforcement
			if appliesToInventory(info, facts.inventory) {
				applicable++
			}
		}
		res.Policies = append(res.Policies, pe)
		failing = append(failing, facts.findings[id]...)
	}
	switch {
	case len(failing) > 0:
		res.Failing = resources(failing)
		res.Status = compliance.Fail
		res.Reason = failReason(res)
	case loaded == 0:
		res.Status = compliance.NotApplicable
		res.Reason = fmt.Sprintf("None of its policies (%s) is loaded.", strings.Join(ids, ", "))
	case applicable == 0:
		res.Status = compliance.NotApplicable
		res.Reason = "The cluster has no object of the kinds its policies check."
	default:
		res.Status = compliance.Pass
		decisions := 0
		for _, p := range res.Policies {
			decisions += p.Admission.Decisions()
		}
		res.Reason = fmt.Sprintf("No open finding for its %s; at admission they found violations in %s in the period.",
			plural(loaded, "policy", "policies"), plural(decisions, "request", "requests"))
		if decisions == 0 {
			res.Reason = fmt.Sprintf("No open finding for its %s; no admission request violated them in the period.", plural(loaded, "policy", "policies"))
		}
	}
	return res
}

// appliesToInventory says whether a policy can judge anything in the cluster: true
// when the inventory is unknown, so an unknown never reads as not applicable.
func appliesToInventory(p PolicyInfo, inv Inventory) bool {
	if !inv.Known || p.AppliesTo == nil {
		return true
	}
	for kind, n := range inv.ByKind {
		if n > 0 && p.AppliesTo(kind) {
			return true
		}
	}
	return false
}

// trailStatus decides a control automated by the trail itself.
func trailStatus(t TrailRange) (compliance.Status, string) {
	switch t.Status {
	case TrailIntact:
		return compliance.Pass, fmt.Sprintf("The trail records %s in the period (seq %d to %d) and verifies intact.", plural(int(t.Events), "event", "events"), t.FromSeq, t.ToSeq)
	case TrailBroken:
		return compliance.Fail, fmt.Sprintf("The trail is broken at seq %d: %s.", t.Break.Seq, t.Break.Reason)
	default:
		return compliance.Fail, "The trail records no event in the period, so nothing shows that decisions are recorded."
	}
}

// failReason summarises a failing control: how many resources, which policies.
func failReason(res ControlResult) string {
	var parts []string
	for _, p := range res.Policies {
		if p.OpenFindings > 0 {
			parts = append(parts, fmt.Sprintf("%s (%d)", p.Policy, p.OpenFindings))
		}
	}
	return fmt.Sprintf("%s open findings of its policies: %s.", plural(len(res.Failing), "resource has", "resources have"), strings.Join(parts, ", "))
}

// resources groups findings by resource, oldest first; each resource's violations by
// policy, then age.
func resources(fs []Finding) []ResourceEvidence {
	byUID := map[string]*ResourceEvidence{}
	var order []*ResourceEvidence
	for _, f := range fs {
		key := f.Cluster + "\x00" + f.UID
		r, ok := byUID[key]
		if !ok {
			r = &ResourceEvidence{APIVersion: f.APIVersion, Kind: f.Kind, Namespace: f.Namespace, Name: f.Name, UID: f.UID, FirstSeen: f.FirstSeen}
			byUID[key] = r
			order = append(order, r)
		}
		if f.FirstSeen.Before(r.FirstSeen) {
			r.FirstSeen = f.FirstSeen
		}
		r.Violations = append(r.Violations, ViolationEvidence{
			Finding: f.ID, Policy: f.PolicyID, Severity: f.Severity, Message: f.Message,
			Field: f.Field, FirstSeen: f.FirstSeen, Events: f.Events,
		})
	}
	out := make([]ResourceEvidence, len(order))
	for i, r := range order {
		slices.SortFunc(r.Violations, func(a, b ViolationEvidence) int {
			return cmp.Or(cmp.Compare(a.Policy, b.Policy), a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.Finding, b.Finding))
		})
		out[i] = *r
	}
	slices.SortFunc(out, func(a, b ResourceEvidence) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.UID, b.UID))
	})
	return out
}

// summarize scores each framework across the report's clusters: the tallies of every
// cluster added up, so the fleet's score is the share of (cluster, control) pairs
// that pass.
func summarize(r *Report) []FrameworkSummary {
	var out []FrameworkSummary
	for i, fw := range r.Frameworks {
		s := FrameworkSummary{Framework: fw.ID}
		for _, c := range r.Clusters {
			res := c.Frameworks[i]
			s.Controls.Merge(res.Controls)
			if r.Scope == ScopeFleet {
				s.Clusters = append(s.Clusters, ClusterScoreRef{Cluster: c.Cluster, Score: res.Score})
			}
		}
		s.Score = s.Controls.Score()
		out = append(out, s)
	}
	return out
}

// finalize sets the report's content-derived ID: "rpt-" and the first 24 hex digits
// of the SHA-256 of its JSON without ID and signature. encoding/json writes a
// value the same way every time, so the canonical form (costly on a large
// report, and computed once more to sign) is not needed here.
func (r *Report) finalize() error {
	if r.Signature != nil {
		return errors.New("the report is signed and cannot change")
	}
	r.ID = ""
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	sum := sha256.Sum256(doc)
	r.ID = "rpt-" + hex.EncodeToString(sum[:])[:24]
	return nil
}

// canonicalJSON is the RFC 8785 form of the report without its signature.
func canonicalJSON(r *Report) ([]byte, error) {
	unsigned := *r
	unsigned.Signature = nil
	raw, err := json.Marshal(&unsigned)
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	doc, err := trail.Canonicalize(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalize report: %w", err)
	}
	return doc, nil
}

// plural is "1 thing" or "n things".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// oneLine folds a catalogue text's line breaks and repeated spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
