// Package policy loads, checks and compiles Bailiff's Rego policies, evaluates them
// against policy input, and swaps the compiled set atomically on reload.
package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/input"
)

// Options configure an Engine.
type Options struct {
	// Sources are the policy trees to load; default: the embedded library alone.
	Sources []Source
	// Config is data.bailiff.config; default: config.Default().
	Config *config.Config
	// SkipTests skips running the set's Rego tests before accepting it. The embedded
	// library's tests run in the project's own test suite; a set with extra policy
	// directories should always be tested.
	SkipTests bool
	// Now tells the time, for exemption expiry; default time.Now.
	Now func() time.Time
	// Evaluator evaluates the policies; default IR.
	Evaluator Evaluator
	// Restrict, when set, prepares the queries of these kinds and operations only:
	// a scan of objects read beforehand needs nothing else, and preparing every
	// kind's queries is most of what building a set costs. Evaluating any other
	// kind or operation is then an error, never a silent pass.
	Restrict *Restriction
}

// Restriction names the kinds (e.g. "Deployment") and operations (e.g. CREATE) a
// restricted engine evaluates.
type Restriction struct {
	Kinds      []string
	Operations []string
}

// covers reports whether a restriction (nil: none) allows evaluating in.
func (r *Restriction) covers(in *input.Input) error {
	if r == nil || (slices.Contains(r.Kinds, in.Kind) && slices.Contains(r.Operations, in.Operation)) {
		return nil
	}
	return fmt.Errorf("evaluate %s %s: the policy set was prepared for kinds %v and operations %v only", in.Operation, in.Kind, r.Kinds, r.Operations)
}

// Evaluator is how an engine evaluates its policies. Both give the same results; the
// differential tests hold them to it.
type Evaluator int

const (
	// IR evaluates the plans OPA's planner makes of the engine's queries, with
	// package ireval: several times faster than topdown.
	IR Evaluator = iota
	// Topdown evaluates with OPA's own interpreter, the reference.
	Topdown
)

// String names the evaluator: "ir" or "topdown".
func (e Evaluator) String() string {
	switch e {
	case IR:
		return "ir"
	case Topdown:
		return "topdown"
	default:
		return fmt.Sprintf("Evaluator(%d)", int(e))
	}
}

// Engine evaluates policy input against the current policy set. It is safe for
// concurrent use; Reload replaces the set atomically.
type Engine struct {
	current atomic.Pointer[Set]
	now     func() time.Time
}

// New builds an engine, failing if the policy set does not load, compile or pass its
// tests.
func New(ctx context.Context, opts Options) (*Engine, error) {
	e := &Engine{now: opts.Now}
	if e.now == nil {
		e.now = time.Now
	}
	if err := e.Reload(ctx, opts); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload builds a new policy set and swaps it in. If the new set fails, the error says
// why (with file:row:col) and the running set keeps serving.
func (e *Engine) Reload(ctx context.Context, opts Options) error {
	sources := opts.Sources
	if len(sources) == 0 {
		sources = []Source{Embedded()}
	}
	cfg := opts.Config
	if cfg == nil {
		var err error
		if cfg, err = config.Default(); err != nil {
			return err
		}
	}
	if opts.Evaluator != IR && opts.Evaluator != Topdown {
		return fmt.Errorf("load policies: unknown %v: use policy.IR or policy.Topdown", opts.Evaluator)
	}
	set, err := buildSet(ctx, buildOptions{sources: sources, cfg: cfg, runTests: !opts.SkipTests, evaluator: opts.Evaluator, restrict: opts.Restrict})
	if err != nil {
		return err
	}
	e.current.Store(set)
	return nil
}

// Set returns the policy set in force now.
func (e *Engine) Set() *Set { return e.current.Load() }

// Version identifies the policy set and configuration in force.
func (s *Set) Version() string { return s.version }

// Policies lists the loaded policies, sorted by id.
func (s *Set) Policies() []Metadata {
	out := make([]Metadata, len(s.policies))
	for i, p := range s.policies {
		out[i] = *p
	}
	return out
}

// Config is the configuration the set was built with.
func (s *Set) Config() *config.Config { return s.cfg }

// Evaluate runs every validating policy that applies to the input's kind and operation,
// with the set in force now.
func (e *Engine) Evaluate(ctx context.Context, in *input.Input) (*Result, error) {
	return e.EvaluateWith(ctx, e.Set(), in)
}

// EvaluateWith is Evaluate with the given set: a caller that built the input from a
// set's configuration evaluates it with that same set, even when a reload swaps the
// engine's set in between.
func (e *Engine) EvaluateWith(ctx context.Context, set *Set, in *input.Input) (*Result, error) {
	if err := set.restrict.covers(in); err != nil {
		return nil, err
	}
	res := &Result{PolicySetVersion: set.version}
	q := set.queryFor(in, false)
	if q == nil {
		return res, nil
	}
	res.Evaluated = len(q.policies)
	bindings, err := q.eval(ctx, in)
	if err != nil {
		return nil, err
	}
	now := e.now()
	for i, p := range q.policies {
		items, err := resultItems(bindings[i], "violation", p)
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			v, err := set.violation(p, item)
			if err != nil {
				return nil, err
			}
			if ex, ok := set.exemption(p.ID, in, now); ok {
				res.Exempted = append(res.Exempted, ExemptedViolation{Violation: v, Exemption: ex})
				continue
			}
			res.Violations = append(res.Violations, v)
		}
	}
	sortViolations(res.Violations)
	return res, nil
}

// Mutate runs every mutating policy that applies and returns their patches, ordered by
// policy id and then path, with the policies an exemption skipped; with the set in force
// now.
func (e *Engine) Mutate(ctx context.Context, in *input.Input) (*Mutation, error) {
	return e.MutateWith(ctx, e.Set(), in)
}

// MutateWith is Mutate with the given set, as EvaluateWith is Evaluate.
func (e *Engine) MutateWith(ctx context.Context, set *Set, in *input.Input) (*Mutation, error) {
	if err := set.restrict.covers(in); err != nil {
		return nil, err
	}
	res := &Mutation{PolicySetVersion: set.version}
	q := set.queryFor(in, true)
	if q == nil {
		return res, nil
	}
	bindings, err := q.eval(ctx, in)
	if err != nil {
		return nil, err
	}
	now := e.now()
	for i, p := range q.policies {
		items, err := resultItems(bindings[i], "patch", p)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			continue
		}
		if ex, ok := set.exemption(p.ID, in, now); ok {
			res.Exempted = append(res.Exempted, ExemptedMutation{Policy: p.ID, Exemption: ex})
			continue
		}
		for _, item := range items {
			patch, err := patchOf(p, item)
			if err != nil {
				return nil, err
			}
			res.Patches = append(res.Patches, patch)
		}
	}
	sortPatches(res.Patches)
	return res, nil
}

// eval runs the prepared query and returns the value bound for each policy. A context
// already done fails at once: OPA only notices cancellation while it evaluates.
func (q *query) eval(ctx context.Context, in *input.Input) ([]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluate policies for %s %s: %w", in.Kind, in.Name, err)
	}
	rs, err := q.prepared.Eval(ctx, rego.EvalParsedInput(in.Value()))
	if err != nil {
		return nil, fmt.Errorf("evaluate policies for %s %s: %w", in.Kind, in.Name, err)
	}
	out := make([]any, len(q.policies))
	if len(rs) == 0 {
		return out, nil
	}
	for i, v := range q.vars {
		if v != "" {
			out[i] = rs[0].Bindings[v]
		}
	}
	pairs, _ := rs[0].Bindings["combined"].([]any)
	for _, pair := range pairs {
		i, item, err := combinedItem(pair, len(q.policies))
		if err != nil {
			return nil, fmt.Errorf("evaluate policies for %s %s: %w", in.Kind, in.Name, err)
		}
		list, _ := out[i].([]any)
		out[i] = append(list, item)
	}
	return out, nil
}

// combinedItem splits one element of a combined rule's result, [i, item].
func combinedItem(pair any, n int) (int, any, error) {
	p, ok := pair.([]any)
	if !ok || len(p) != 2 {
		return 0, nil, fmt.Errorf("combined result %v is not a pair", pair)
	}
	num, ok := p[0].(json.Number)
	if !ok {
		return 0, nil, fmt.Errorf("combined result %v has no policy index", pair)
	}
	i, err := num.Int64()
	if err != nil || i < 0 || int(i) >= n {
		return 0, nil, fmt.Errorf("combined result %v has no policy index", pair)
	}
	return int(i), p[1], nil
}

// exemption returns the active exemption covering a policy for the input, if any.
func (s *Set) exemption(policyID string, in *input.Input, now time.Time) (config.Exemption, bool) {
	for _, ex := range s.cfg.Exemptions {
		if ex.Matches(policyID, in.Kind, in.Namespace, in.Name) && ex.ActiveAt(now) {
			return ex, true
		}
	}
	return config.Exemption{}, false
}

// resultItems reads a violation or patch set as a list of objects.
func resultItems(v any, rule string, p *Metadata) ([]map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("policy %s (%s): %s must be a set of objects, got %T", p.ID, p.File, rule, v)
	}
	out := make([]map[string]any, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("policy %s (%s): every %s must be an object, got %T", p.ID, p.File, rule, item)
		}
		out[i] = m
	}
	return out, nil
}
