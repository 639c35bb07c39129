package policy

import (
	"context"
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// foldConstants returns policy modules in which every complete rule whose value cannot
// depend on the input is replaced by its value, computed once with the set's
// configuration; the modules given are not changed.
//
// A Set's configuration never changes, so a rule that reads only the configuration and
// constants ("the configured maxima, parsed", "the severities above the allowed one",
// a policy's own metadata) has the same value for every object. Topdown would compute it
// again on every evaluation; folded, it costs what a constant costs. A rule is folded
// when none of its definitions (default and else included), nor anything they use,
// transitively, reads input, uses with, or calls a non-deterministic built-in (or print),
// and when it evaluates without error to a value. Anything else is left as written.
func foldConstants(ctx context.Context, compiler *ast.Compiler, store storage.Store, modules map[string]*ast.Module) (map[string]*ast.Module, error) {
	values, err := constantValues(ctx, compiler, store)
	if err != nil || len(values) == 0 {
		return modules, err
	}
	out := make(map[string]*ast.Module, len(modules))
	for file, m := range modules {
		folded, err := foldModule(m, values)
		if err != nil {
			return nil, fmt.Errorf("fold constant rules of %s: %w", file, err)
		}
		out[file] = folded
	}
	return out, nil
}

// constantValues evaluates every foldable rule path of the compiled policies, keyed by
// the path's string form (data.bailiff.lib.pss.level).
func constantValues(ctx context.Context, compiler *ast.Compiler, store storage.Store) (map[string]*ast.Term, error) {
	byPath := map[string][]*ast.Rule{}
	var paths []string
	for _, m := range compiler.Modules {
		for _, r := range m.Rules {
			p := r.Path().String()
			if _, seen := byPath[p]; !seen {
				paths = append(paths, p)
			}
			byPath[p] = append(byPath[p], r)
		}
	}
	sort.Strings(paths)

	tainted := taintedRules(compiler)
	values := map[string]*ast.Term{}
	for _, p := range paths {
		rules := byPath[p]
		if !foldable(rules, tainted) {
			continue
		}
		pq, err := rego.New(rego.Query("x = "+p), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("fold %s: %w", p, err)
		}
		rs, err := pq.Eval(ctx, rego.EvalGenerateJSON(asTerm))
		if err != nil || len(rs) != 1 {
			continue // an error or no value: left to fail (or be undefined) as written
		}
		v, ok := rs[0].Bindings["x"].(*ast.Term)
		if !ok {
			return nil, fmt.Errorf("fold %s: got %T", p, rs[0].Bindings["x"])
		}
		values[p] = v
	}
	return values, nil
}

// asTerm keeps a result as the AST term it is, sets included.
func asTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// foldable reports whether the rules defining one path can be replaced by their value:
// complete rules without arguments, none tainted, none carrying rule metadata, and not
// already one plain constant.
func foldable(rules []*ast.Rule, tainted map[*ast.Rule]bool) bool {
	for _, r := range rules {
		if len(r.Head.Args) > 0 || r.Head.RuleKind() != ast.SingleValue || len(r.Head.Ref()) != 1 || tainted[r] {
			return false
		}
		for _, a := range r.Module.Annotations {
			if a.Scope != "package" && a.Scope != "subpackages" {
				return false // keep rule metadata where it was written
			}
		}
	}
	r := rules[0]
	constant := len(rules) == 1 && !r.Default && r.Else == nil && r.Head.Value.IsGround() &&
		len(r.Body) == 1 && isTrue(r.Body[0])
	return !constant
}

func isTrue(e *ast.Expr) bool {
	t, ok := e.Terms.(*ast.Term)
	return ok && t.Equal(ast.BooleanTerm(true))
}

// taintedRules marks every rule whose value may differ between evaluations of one set:
// it reads input, uses with, calls a non-deterministic built-in, or depends on a rule
// that does.
func taintedRules(compiler *ast.Compiler) map[*ast.Rule]bool {
	tainted := map[*ast.Rule]bool{}
	var rules []*ast.Rule
	for _, m := range compiler.Modules {
		for _, r := range m.Rules {
			for e := r; e != nil; e = e.Else {
				rules = append(rules, e)
				if readsInput(e) {
					tainted[r] = true
				}
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, r := range rules {
			if tainted[r] {
				continue
			}
			for dep := range compiler.Graph.Dependencies(r) {
				if d, ok := dep.(*ast.Rule); ok && tainted[d] {
					tainted[r] = true
					changed = true
					break
				}
			}
		}
	}
	// A rule's else branches share its fate.
	for _, m := range compiler.Modules {
		for _, r := range m.Rules {
			for e := r.Else; e != nil; e = e.Else {
				if tainted[e] {
					tainted[r] = true
				}
			}
		}
	}
	return tainted
}

// readsInput reports whether one rule definition, on its own, reads input, uses with, or
// calls a non-deterministic built-in (or print or trace).
func readsInput(r *ast.Rule) bool {
	found := false
	ast.WalkExprs(r, func(e *ast.Expr) bool {
		if len(e.With) > 0 {
			found = true
		}
		if e.IsCall() {
			name := e.Operator().String()
			if b, ok := ast.BuiltinMap[name]; ok && (b.Nondeterministic || name == "print" || name == "internal.print" || name == "trace") {
				found = true // print and trace must run on every evaluation
			}
		}
		return found
	})
	ast.WalkRefs(r, func(ref ast.Ref) bool {
		if ref.HasPrefix(ast.InputRootRef) {
			found = true
		}
		return found
	})
	return found
}

// foldModule returns a copy of m with the rules at folded paths replaced by one rule
// assigning the value, at the first definition's place.
func foldModule(m *ast.Module, values map[string]*ast.Term) (*ast.Module, error) {
	hit := false
	for _, r := range m.Rules {
		if _, ok := values[r.Path().String()]; ok {
			hit = true
			break
		}
	}
	if !hit {
		return m, nil
	}
	cpy := m.Copy()
	rules := cpy.Rules[:0]
	done := map[string]bool{}
	for _, r := range cpy.Rules {
		p := r.Path().String()
		v, ok := values[p]
		if !ok {
			rules = append(rules, r)
			continue
		}
		if done[p] {
			continue
		}
		done[p] = true
		// The rule is parsed with a placeholder value, which is then set to the value
		// itself: no round trip through text.
		parsed, err := ast.ParseModuleWithOpts("", fmt.Sprintf("package folded\n%s := null\n", r.Head.Ref()), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil || len(parsed.Rules) != 1 {
			return nil, fmt.Errorf("rule %s: %v", p, err)
		}
		folded := parsed.Rules[0]
		folded.Head.Value = v.Copy()
		folded.Module = cpy
		folded.Location = r.Location
		rules = append(rules, folded)
	}
	cpy.Rules = rules
	return cpy, nil
}
