// Package ireval evaluates Rego through OPA's intermediate representation: the plan
// OPA's planner makes of a prepared query and of every rule it reaches (package ir),
// interpreted statement by statement over OPA's own ast values, with OPA's own
// built-in functions. Topdown interprets the rules themselves, and pays for
// unification, bindings and its caches on every expression; a plan has all of that
// decided once, when the query is prepared.
//
// The evaluator is a rego target: after Register, a query prepared with
// rego.Target(Target) under a context from WithStore (or Scope.Context) is planned by
// OPA and evaluated here, and PreparedEvalQuery.Eval returns the same result set
// topdown would. Every statement the planner emits is supported; a plan with anything
// else fails to prepare. How it runs:
//
//   - Values are ast terms; locals are slots of a frame, one per function call, in a
//     stack reused from one evaluation to the next.
//   - Built-ins are OPA's (topdown.GetBuiltin, or those given to rego), called with one
//     BuiltinContext per evaluation. As in topdown, a built-in's error makes its call
//     undefined (and is the evaluation's error under strict built-in errors), but for a
//     halt, which ends the evaluation.
//   - A rule's function (its parameters input and data alone) is computed once per
//     evaluation, and again only under a with statement, as topdown's virtual
//     document cache does.
//   - Literals are built in one step, and constant ones once, at compile time
//     (fuse.go).
//   - A cancelled context stops the evaluation within 64 loop steps or calls, with
//     topdown's cancellation error; conflicting values of a rule are topdown's
//     conflict error.
//
// What differs from topdown, none of which the engine's queries meet: a query's result
// is a set, so identical rows of a query with several are one; query tracers,
// instrumentation and the virtual and base caches given to rego are not used; data is
// read once, when the query is prepared, as OPA's wasm target does.
package ireval

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Target is the rego target name that selects this evaluator: rego.Target(Target).
const Target = "bailiff-ir"

// registered guards OPA's registry of target plugins, a package-level map that
// refuses a second registration of one name.
var registered sync.Once

// Register makes Target known to OPA's rego package. It is safe to call any number of
// times, from any goroutine.
func Register() {
	registered.Do(func() { rego.RegisterPlugin(Target, plugin{}) })
}

// plugin is the rego.TargetPlugin for Target.
type plugin struct{}

var _ rego.TargetPlugin = plugin{}

// IsTarget claims Target alone. Claiming "" would make this the default evaluator of
// every rego query in the process.
func (plugin) IsTarget(name string) bool { return name == Target }

// PrepareForEval compiles a planned query for evaluation, in the Scope of ctx.
func (plugin) PrepareForEval(ctx context.Context, policy *ir.Policy, opts ...rego.PrepareOption) (rego.TargetPluginEval, error) {
	scope, ok := ctx.Value(scopeKey{}).(*Scope)
	if !ok {
		return nil, errors.New("ireval: no store to read data from: prepare the query under ireval.WithStore(ctx, store) or Scope.Context")
	}
	data, err := scope.read(ctx)
	if err != nil {
		return nil, err
	}
	cfg := &rego.PrepareConfig{}
	for _, o := range opts {
		o(cfg)
	}
	p, err := compile(policy, scope, data, cfg.BuiltinFuncs())
	if err != nil {
		return nil, fmt.Errorf("ireval: %w", err)
	}
	return p, nil
}
