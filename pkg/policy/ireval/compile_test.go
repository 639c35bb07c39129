package ireval

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/print"
)

// strangeStmt is a statement the planner does not emit.
type strangeStmt struct{ ir.Location }

// TestWhatCannotBeRunFailsToCompile: a plan the evaluator could run differently from
// topdown is refused when the query is prepared, with a message that says why.
func TestWhatCannotBeRunFailsToCompile(t *testing.T) {
	plan := func(stmts ...ir.Stmt) *ir.Policy {
		return &ir.Policy{
			Static: &ir.Static{Strings: []*ir.StringConst{{Value: "x"}}},
			Plans:  &ir.Plans{Plans: []*ir.Plan{{Name: "eval", Blocks: []*ir.Block{{Stmts: stmts}}}}},
		}
	}
	for _, tc := range []struct {
		name   string
		policy *ir.Policy
		want   string
	}{
		{"a statement it does not know", plan(&strangeStmt{}), "unsupported statement"},
		{"a break out of the plan", plan(&ir.BreakStmt{Index: 1}), "leaves the function"},
		{"a break out of the plan from a nested block", plan(&ir.BlockStmt{Blocks: []*ir.Block{{Stmts: []ir.Stmt{&ir.BreakStmt{Index: 2}}}}}), "leaves the function"},
		{"a dynamic call without the blocks around it", plan(&ir.CallDynamicStmt{Path: []ir.Operand{{Value: ir.StringIndex(0)}}, Result: 2}), "dynamic call"},
		{"a call of nothing", plan(&ir.CallStmt{Func: "no.such.function", Result: 2}), "no.such.function has no implementation"},
		{"a string that does not exist", plan(&ir.AssignVarStmt{Source: ir.Operand{Value: ir.StringIndex(7)}, Target: 2}), "string constant 7 does not exist"},
		{"a number that is none", plan(&ir.MakeNumberRefStmt{Index: 0, Target: 2}), `"x" is not a number`},
		{"a return inside a block", plan(&ir.ReturnLocalStmt{Source: 2}), "return is supported only"},
		{"a result outside the plan", &ir.Policy{
			Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "eval"}}},
			Funcs: &ir.Funcs{Funcs: []*ir.Func{{Name: "g0.data.f", Params: []ir.Local{0, 1}, Return: 2, Blocks: []*ir.Block{{Stmts: []ir.Stmt{&ir.ResultSetAddStmt{Value: 2}}}}}}},
		}, "result set statement outside the plan"},
		{"two plans", &ir.Policy{Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "a"}, {Name: "b"}}}}, "want one plan, got 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(tc.policy, NewScope(inmem.New()), ast.NewTerm(ast.NewObject()), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestConcurrentEvaluationsAgree: evaluations of one prepared query at once, which
// share its constants and memoized functions' code, give what they give one at a time.
// Run with -race.
func TestConcurrentEvaluationsAgree(t *testing.T) {
	Register()
	ctx := context.Background()
	store := inmem.NewFromObject(map[string]any{"cfg": map[string]any{"kinds": []any{"Pod", "Job"}}})
	pq, err := rego.New(
		rego.Query("v := data.p.violation; k := data.p.kinds"),
		rego.Module("p.rego", `package p
kinds := {k: [k, "spec"] | some k in data.cfg.kinds}
containers := [c | some c in input.spec.containers]
violation contains {"msg": sprintf("%s runs %s", [c.name, c.image]), "path": kinds[input.kind]} if {
	some c in containers
	not startswith(c.image, "registry.example.com/")
}`),
		rego.Store(store), rego.Target(Target),
	).PrepareForEval(WithStore(ctx, store))
	if err != nil {
		t.Fatal(err)
	}
	inputs := make([]map[string]any, 20)
	want := make([]rego.ResultSet, len(inputs))
	for i := range inputs {
		inputs[i] = map[string]any{"kind": []string{"Pod", "Job", "Other"}[i%3], "spec": map[string]any{"containers": []any{
			map[string]any{"name": fmt.Sprint("a", i), "image": "nginx"},
			map[string]any{"name": "b", "image": "registry.example.com/x"},
		}}}
		if want[i], err = pq.Eval(ctx, rego.EvalInput(inputs[i])); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 50 {
				i := (g + n) % len(inputs)
				got, err := pq.Eval(ctx, rego.EvalInput(inputs[i]))
				if err != nil || !reflect.DeepEqual(got, want[i]) {
					errs <- fmt.Errorf("input %d: got %v, %v; want %v", i, got, err, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// printed collects what print statements print.
type printed struct{ lines []string }

func (p *printed) Print(ctx print.Context, msg string) error {
	p.lines = append(p.lines, fmt.Sprintf("%v: %s", ctx.Location, msg))
	return nil
}

// TestPrintsAsTopdown: print statements print the same lines, with the same
// locations, and hold, as with topdown.
func TestPrintsAsTopdown(t *testing.T) {
	modules := map[string]string{"p.rego": `package p
r if {
	print("start", input.x)
	some y in input.ys
	print("y is", y, {"set": {y}})
	y > 1
}
s if print(input.missing)`}
	ctx := context.Background()
	var want, got printed
	w := evaluate(t, ctx, modules, nil, "r := data.p.r; s := data.p.s", map[string]any{"x": 1, "ys": []any{1, 2}}, false, rego.EnablePrintStatements(true), rego.PrintHook(&want))
	g := evaluate(t, ctx, modules, nil, "r := data.p.r; s := data.p.s", map[string]any{"x": 1, "ys": []any{1, 2}}, true, rego.EnablePrintStatements(true), rego.PrintHook(&got))
	if !reflect.DeepEqual(g, w) || !reflect.DeepEqual(got.lines, want.lines) || len(want.lines) == 0 {
		t.Fatalf("the IR gives %v and prints\n%s\ntopdown gives %v and prints\n%s", g, strings.Join(got.lines, "\n"), w, strings.Join(want.lines, "\n"))
	}
}

// TestAScopeCompilesSharedRulesOnce: queries prepared in one Scope share the functions
// they both plan, and still give their own results.
func TestAScopeCompilesSharedRulesOnce(t *testing.T) {
	Register()
	ctx := context.Background()
	store := inmem.NewFromObject(map[string]any{})
	scope := NewScope(store)
	modules := []func(*rego.Rego){
		rego.Module("lib.rego", "package lib\nnames := [c.name | some c in input.cs]"),
		rego.Module("a.rego", "package a\nn := count(data.lib.names)"),
		rego.Module("b.rego", "package b\nfirst := data.lib.names[0]"),
	}
	prepare := func(query string) rego.PreparedEvalQuery {
		pq, err := rego.New(append(modules, rego.Query(query), rego.Store(store), rego.Target(Target))...).PrepareForEval(scope.Context(ctx))
		if err != nil {
			t.Fatal(err)
		}
		return pq
	}
	a, b := prepare("x := data.a.n"), prepare("x := data.b.first")
	if n := len(scope.funcs); n != 3 {
		t.Errorf("the scope holds %d functions, want 3 (lib.names once, a.n, b.first)", n)
	}
	in := rego.EvalInput(map[string]any{"cs": []any{map[string]any{"name": "one"}, map[string]any{"name": "two"}}})
	for pq, want := range map[*rego.PreparedEvalQuery]any{&a: "2", &b: "one"} {
		rs, err := pq.Eval(ctx, in)
		if err != nil || len(rs) != 1 || fmt.Sprint(rs[0].Bindings["x"]) != want {
			t.Errorf("got %v, %v; want x = %v", rs, err, want)
		}
	}
}

// TestChangingAConstantChangesACopy: a literal made a constant is shared by every
// evaluation; a statement changing it through another local changes a copy, and the
// next evaluation sees the constant as it was.
func TestChangingAConstantChangesACopy(t *testing.T) {
	str := func(i int) ir.Operand { return ir.Operand{Value: ir.StringIndex(i)} }
	local := func(i int) ir.Operand { return ir.Operand{Value: ir.Local(i)} }
	policy := &ir.Policy{
		Static: &ir.Static{Strings: []*ir.StringConst{{Value: "x"}, {Value: "y"}, {Value: "a"}, {Value: "b"}}},
		Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "eval", Blocks: []*ir.Block{{Stmts: []ir.Stmt{
			&ir.MakeArrayStmt{Target: 2},
			&ir.ArrayAppendStmt{Value: str(0), Array: 2},
			&ir.AssignVarStmt{Source: local(2), Target: 3},
			&ir.ArrayAppendStmt{Value: str(1), Array: 3},
			&ir.MakeObjectStmt{Target: 4},
			&ir.ObjectInsertStmt{Key: str(2), Value: local(2), Object: 4},
			&ir.ObjectInsertStmt{Key: str(3), Value: local(3), Object: 4},
			&ir.ResultSetAddStmt{Value: 4},
		}}}}}},
	}
	prog, err := compile(policy, NewScope(inmem.New()), ast.NewTerm(ast.NewObject()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if first := prog.plan.blocks[0].stmts[0]; first.op != opConst || first.k.String() != `["x"]` {
		t.Fatalf("the literal compiled to %s %v, want the constant [\"x\"]", first.op, first.k)
	}
	for i := range 2 {
		got, err := prog.Eval(context.Background(), &rego.EvalContext{}, nil)
		if want := `{{"a": ["x"], "b": ["x", "y"]}}`; err != nil || got.String() != want {
			t.Fatalf("evaluation %d: got %v, %v; want %s", i, got, err, want)
		}
	}
}

// TestCompilingLeavesOPAsTermsAlone: constants may be OPA's interned terms, shared by
// the whole process; compiling must not mark them as its own.
func TestCompilingLeavesOPAsTermsAlone(t *testing.T) {
	got := evaluate(t, context.Background(), map[string]string{"p.rego": `package p
r := [null, 0, 1, true, "s", {"k": [null, 2]}]
pair if [_, _] = input.pair
walks if walk(input)`}, nil, "x := data.p", map[string]any{"pair": []any{1, 2}}, true)
	if got.err != nil {
		t.Fatal(got.err)
	}
	for _, term := range []*ast.Term{ast.NullTerm(), ast.IntNumberTerm(0), ast.IntNumberTerm(2), ast.InternedTerm(1), ast.BooleanTerm(true), ast.InternedTerm("s")} {
		if term.Location != nil {
			t.Errorf("OPA's term %v has the location %v", term, term.Location)
		}
	}
}
