package ireval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"
)

// outcome is what one evaluator made of a query: its results, as sorted JSON lines (the
// IR's result is a set, topdown's a list in the order found), or its error.
type outcome struct {
	results []string
	err     error
}

func (o outcome) String() string {
	if o.err != nil {
		return "error: " + o.err.Error()
	}
	return "[" + strings.Join(o.results, ", ") + "]"
}

// evaluate runs query against the modules with topdown (ir false) or this evaluator.
func evaluate(t *testing.T, ctx context.Context, modules map[string]string, data map[string]any, query string, input any, ir bool, opts ...func(*rego.Rego)) outcome {
	t.Helper()
	Register()
	if data == nil {
		data = map[string]any{}
	}
	store := inmem.NewFromObject(data)
	args := []func(*rego.Rego){rego.Query(query), rego.Store(store)}
	for name, src := range modules {
		args = append(args, rego.Module(name, src))
	}
	if ir {
		args = append(args, rego.Target(Target))
	}
	args = append(args, opts...)
	pq, err := rego.New(args...).PrepareForEval(WithStore(ctx, store))
	if err != nil {
		t.Fatalf("prepare (ir %v): %v", ir, err)
	}
	var evalOpts []rego.EvalOption
	if input != nil {
		evalOpts = append(evalOpts, rego.EvalInput(input))
	}
	rs, err := pq.Eval(ctx, evalOpts...)
	if err != nil {
		return outcome{err: err}
	}
	var out []string
	for _, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return outcome{results: slices.Compact(out)}
}

// TestEvaluatesAsTopdown runs small policies that exercise the statements the planner
// emits, and the corners where an evaluator of the IR could differ from topdown, with
// both, and requires the same results, or errors of the same code for both.
func TestEvaluatesAsTopdown(t *testing.T) {
	data := map[string]any{
		"base": map[string]any{"a": map[string]any{"x": 1}, "list": []any{1, "two", 3.5}},
		"pols": map[string]any{"base": map[string]any{"violation": []any{"from data"}, "flag": true}},
		"cfg":  map[string]any{"max": 3, "names": []any{"a", "b"}},
	}
	for _, tc := range []struct {
		name   string
		module string
		query  string
		input  any
	}{
		{"complete rules with else and default read input", `package p
default level := "none"
level := "high" if input.n > 10
else := "mid" if input.n > 5
else := "low" if input.n > 0`, "x := data.p.level", map[string]any{"n": 7}},
		{"a default applies when no body holds", `package p
default level := "none"
level := "high" if input.n > 10`, "x := data.p.level", map[string]any{"n": 1}},
		{"partial sets collect from several bodies", `package p
violation contains msg if { some c in input.cs; c.privileged; msg := sprintf("%s is privileged", [c.name]) }
violation contains {"msg": "no cs"} if count(input.cs) == 0
violation contains [1, x] if { x := input.cs[_].name; startswith(x, "b") }`, "v := data.p.violation", map[string]any{"cs": []any{map[string]any{"name": "a", "privileged": true}, map[string]any{"name": "b"}}}},
		{"partial objects and ref heads", `package p
obj[k] := v if { some k, v in input.m; v > 1 }
by.kind[x.kind] contains x.name if some x in input.items
deep.a.b := 1
deep.a.c := 2 if input.m.a`, "o := data.p.obj; b := data.p.by; d := data.p.deep", map[string]any{"m": map[string]any{"a": 1, "b": 2, "c": 3}, "items": []any{map[string]any{"kind": "K", "name": "n1"}, map[string]any{"kind": "K", "name": "n2"}, map[string]any{"kind": "L", "name": "n3"}}}},
		{"functions with several bodies and else", `package p
f(x) := "neg" if x < 0
else := "zero" if x == 0
f(x) := "pos" if x > 0
g(x, y) := x + y
h(x) if x == 1`, `a := data.p.f(-1); b := data.p.f(0); c := data.p.f(5); d := data.p.g(1, 2); e := data.p.h(1)`, nil},
		{"every over arrays, objects, sets and scalars", `package p
all_pos if every x in input.xs { x > 0 }
all_obj if every k, v in input.m { startswith(k, "a"); v > 0 }
all_set if every x in {1, 2} { x > 0 }
all_empty if every x in [] { x > 100 }
all_scalar if every x in input.n { x > 100 }
not_all if every x in input.xs { x > 2 }`, "r := [data.p.all_pos, data.p.all_obj, data.p.all_set, data.p.all_empty]; s := object.get(data.p, \"all_scalar\", \"undefined\"); n := object.get(data.p, \"not_all\", \"undefined\")", map[string]any{"xs": []any{1, 2, 3}, "m": map[string]any{"a1": 1, "a2": 2}, "n": 5}},
		{"negation, of calls and of expressions", `package p
import rego.v1
no_priv if not input.priv
no_bad if not bad
bad if input.x == "bad"
neither if { not startswith(input.x, "b"); not input.y }`, "a := object.get(data.p, \"no_priv\", false); b := object.get(data.p, \"no_bad\", false); c := object.get(data.p, \"neither\", false)", map[string]any{"x": "good"}},
		{"comprehensions of every kind", `package p
arr := [(x * 2) | some x in input.xs; x > 1]
st := {x | some x in input.xs}
ob := {k: v | some k, v in input.m}
nested := [[y | some y in input.xs; y < x] | some x in input.xs]`, "a := data.p.arr; s := data.p.st; o := data.p.ob; n := data.p.nested", map[string]any{"xs": []any{3, 1, 2, 2}, "m": map[string]any{"k": "v", "j": []any{1}}}},
		{"unification of arrays and objects", `package p
pair if { [a, b] := input.pair; a == b }
obj if { {"k": v, "n": 2} = input.o; v == "x" }
mismatch if [a, b, c] = input.pair`, "a := object.get(data.p, \"pair\", false); b := object.get(data.p, \"obj\", false); c := object.get(data.p, \"mismatch\", false)", map[string]any{"pair": []any{1, 1}, "o": map[string]any{"k": "x", "n": 2}}},
		{"numbers compare by value", `package p
same if input.a == input.b
unified if input.a = input.b
member if input.a in {1, 2}
key := {1: "one"}[input.b]`, "a := object.get(data.p, \"same\", false); b := object.get(data.p, \"unified\", false); c := object.get(data.p, \"member\", false); d := object.get(data.p, \"key\", false)", map[string]any{"a": 1, "b": 1.0}},
		{"built-in errors make an expression undefined", `package p
n := to_number(input.s)
fallback := x if { x := to_number(input.s) } else := -1
d := input.a / input.b
parsed := time.parse_rfc3339_ns(input.s)`, "x := object.get(data.p, \"n\", \"undefined\"); f := data.p.fallback; d := object.get(data.p, \"d\", \"undefined\"); t := object.get(data.p, \"parsed\", \"undefined\")", map[string]any{"s": "nan-ish", "a": 1, "b": 0}},
		{"walk is a relation", `package p
paths contains p if { walk(input, [p, v]); is_string(v) }
has_walk if walk(input)`, "p := data.p.paths; w := data.p.has_walk", map[string]any{"a": map[string]any{"b": "x"}, "c": []any{"y", 1}}},
		{"base and virtual documents under one path", `package base
v := 2
list2 := [x | some x in data.base.list]`, "b := data.base; l := data.base.list2; a := data.base.a.x", nil},
		{"rules reached through a variable", `package pols.one
violation contains "one" if input.x
---
package pols.two
violation contains "two" if true
---
package q
all contains [name, v] if { some name; some v in data.pols[name].violation }`, "a := data.q.all", map[string]any{"x": true}},
		{"rules reached through a bound variable, some missing or undefined", `package pols.one
violation contains "one" if input.x
flag if input.x
---
package pols.two
violation contains "two" if true
flag if input.y
---
package q
names := ["one", "two", "three", "base"]
all contains [name, v] if { some name in names; some v in data.pols[name].violation }
flags contains name if { some name in names; data.pols[name].flag }`, "a := data.q.all; f := data.q.flags", map[string]any{"x": true}},
		{"with replaces input, data and functions", `package p
r := input.x
s := data.cfg.max
f(x) := x + 1
t := f(1)
u := x if x := r with input.x as 5
v := x if x := s with data.cfg.max as 9
w := x if x := t with f as 10
y := x if x := r with input as {"x": "whole"}
z := x if x := input.deep.er with input.deep.er as 3
q := x if x := r with input.x as input.x`, "r := data.p; u := data.p.u; v := data.p.v; w := data.p.w; y := data.p.y; z := data.p.z", map[string]any{"x": 1, "deep": "scalar"}},
		{"strings, regexes and objects through built-ins", `package p
a := sprintf("%v-%d-%s", [input.o, 3, "x"])
b := regex.match("^a+$", input.s)
c := object.get(input.o, ["k", "l"], "none")
d := concat(",", sort([x | some x in input.set]))
e := json.marshal(input.o)
f := count(input.s)
g := trim_space(input.s)
h := units.parse_bytes("1Gi")
i := object.union(input.o, {"z": 1})
j := split(input.s, "")`, "r := data.p", map[string]any{"o": map[string]any{"k": map[string]any{"l": true}}, "s": "aaa", "set": []any{"b", "a"}}},
		{"undefined input", `package p
x := input.a
y := 1
z if not input`, "r := data.p", nil},
		{"object keys of every type", `package p
o := {1: "a", "1": "b", true: "c", null: "d", [1]: "e"}
k := [x | some x, _ in o]
get := [o[1], o["1"], o[true], o[null], o[[1]]]`, "r := data.p", nil},
		{"sets of arrays and objects, and their members", `package p
s := {[1, 2], {"a": 1}, "x", 1}
m1 if [1, 2] in s
m2 if {"a": 1} in s
m3 if s[[1, 2]]
n := count(s)`, "r := data.p", nil},
		{"conflicting values of a complete rule are an error", `package p
x := 1 if input.a
x := 2 if input.b`, "r := data.p.x", map[string]any{"a": true, "b": true}},
		{"conflicting values of a function are an error", `package p
f(a) := 1 if a > 0
f(a) := 2 if a > 1
r := f(input.n)`, "r := data.p.r", map[string]any{"n": 5}},
		{"conflicting keys of a partial object are an error", `package p
o[k] := v if { some k, v in input.m }
o["a"] := 3`, "r := data.p.o", map[string]any{"m": map[string]any{"a": 1}}},
		{"a complete rule whose body iterates yields one value", `package p
any_big if input.xs[_] > 1
first := x if { some x in input.xs; x > 1 }`, "a := data.p.any_big", map[string]any{"xs": []any{1, 2, 3}}},
		{"a complete rule whose body has two values is an error", `package p
first := x if { some x in input.xs; x > 1 }`, "a := data.p.first", map[string]any{"xs": []any{1, 2, 3}}},
		{"a function whose body has two values for one input is an error", `package p
f(xs) := x if { some x in xs; x > 1 }
r := f(input.xs)`, "a := data.p.r", map[string]any{"xs": []any{1, 2, 3}}},
		{"queries with several results", `package p
xs := [1, 2, 3]`, "x := data.p.xs[_]", nil},
		{"rego metadata is folded into terms", `# METADATA
# title: T
# custom:
#   id: X-1
package p
chain := rego.metadata.chain()`, "r := data.p.chain", nil},
		{"print outputs and holds", `package p
r if { print("hello", input.x); input.x == 1 }`, "r := data.p.r", map[string]any{"x": 1}},
		{"arithmetic, sets and aggregates", `package p
a := input.x * 3 - 1 / 4
b := {1, 2, 3} - {2}
c := {1, 2} | {5}
d := {1, 2} & {2, 3}
e := sum([1, 2.5])
f := max(input.xs)
g := input.x % 3
h := round(2.5)
i := -input.x
j := numbers.range(1, 4)
k := [x | some x in j; x % 2 == 0]
l := array.slice(input.xs, 1, 2)
m := abs(-1.5e3)`, "r := data.p", map[string]any{"x": 7, "xs": []any{5, 9, 1}}},
		{"equality of missing and false values", `package p
a if input.f == false
b if not input.f
c if input.missing == input.missing2
d if not input.missing
e := input.f`, "r := data.p", map[string]any{"f": false}},
		{"object literals whose keys turn out equal", `package p
o := {input.a: 1, input.b: 2}
s := {input.a, input.b}
same := {input.a: 1, input.b: 1}`, "r := data.p", map[string]any{"a": "k", "b": "k"}},
		{"literals: constant, built from input, nested, empty, and changed after", `package p
kinds := {"Deployment": ["spec", "template"], "Pod": ["spec"], "none": [], "set": {1, "a"}}
path := kinds[input.kind]
built := [input.kind, [1, input.n], {"k": input.n, "c": {"x": [true, null, 1.5]}}]
undefined_elem := [input.kind, input.missing]
grown contains x if some x in ["a", "b"]
grown contains input.kind
obj[k] := v if some k, v in {"a": 1, "b": input.n}
arr := [x | some x in [1, 2, 3]; x > input.n]
empty_set := {x | some x in []}`, "r := data.p", map[string]any{"kind": "Pod", "n": 1}},
		{"shadowed functions inside with of data", `package p
lim := data.cfg.max
over contains x if { some x in input.xs; x > lim }
small := x if x := over with data.cfg.max as 100
big := x if x := over with data.cfg.max as 0`, "r := data.p", map[string]any{"xs": []any{1, 5, 200}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			modules := map[string]string{}
			for i, m := range strings.Split(tc.module, "\n---\n") {
				modules[fmt.Sprintf("m%d.rego", i)] = m
			}
			want := evaluate(t, ctx, modules, data, tc.query, tc.input, false)
			got := evaluate(t, ctx, modules, data, tc.query, tc.input, true)
			if (want.err == nil) != (got.err == nil) || !slices.Equal(want.results, got.results) {
				t.Fatalf("IR differs from topdown\n got: %v\nwant: %v", got, want)
			}
			t.Logf("both: %v", got)
			if want.err != nil && code(got.err) != code(want.err) {
				t.Fatalf("IR fails with %v, topdown with %v", got.err, want.err)
			}
		})
	}
}

func code(err error) string {
	var e *topdown.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "(no code)"
}

// TestHaltErrorsEndTheEvaluation: a built-in that halts ends the evaluation with its
// error, where other built-in errors make the call undefined.
func TestHaltErrorsEndTheEvaluation(t *testing.T) {
	halt := rego.Function1(&rego.Function{Name: "halts", Decl: typesAnyToAny()}, func(rego.BuiltinContext, *ast.Term) (*ast.Term, error) {
		return nil, rego.NewHaltError(errors.New("stop here"))
	})
	fails := rego.Function1(&rego.Function{Name: "fails", Decl: typesAnyToAny()}, func(rego.BuiltinContext, *ast.Term) (*ast.Term, error) {
		return nil, errors.New("just undefined")
	})
	modules := map[string]string{"h.rego": "package h\nx := halts(1)", "f.rego": "package f\nx := fails(1)"}
	ctx := context.Background()
	for _, ir := range []bool{false, true} {
		got := evaluate(t, ctx, modules, nil, "x := object.get(data.f, \"x\", \"undefined\")", nil, ir, halt, fails)
		if got.err != nil || len(got.results) != 1 || !strings.Contains(got.results[0], `"undefined"`) {
			t.Errorf("ir %v: an erroring built-in gives %v, want undefined", ir, got)
		}
		got = evaluate(t, ctx, modules, nil, "x := data.h.x", nil, ir, halt, fails)
		if got.err == nil || !strings.Contains(got.err.Error(), "stop here") {
			t.Errorf("ir %v: a halting built-in gives %v, want its error", ir, got)
		}
		got = evaluate(t, ctx, modules, nil, "x := object.get(data.f, \"x\", \"undefined\")", nil, ir, halt, fails, rego.StrictBuiltinErrors(true))
		if got.err == nil || !strings.Contains(got.err.Error(), "just undefined") {
			t.Errorf("ir %v: with strict built-in errors, an erroring built-in gives %v, want its error", ir, got)
		}
	}
}

// TestCancelledEvaluationsFail: a cancelled context ends an evaluation with topdown's
// cancellation error, before it starts and while it loops.
func TestCancelledEvaluationsFail(t *testing.T) {
	modules := map[string]string{"p.rego": `package p
n := count([x | some x in numbers.range(1, 100000); x % 7 == 0; y := x * 2; y > 3])`}
	ctx, cancel := context.WithCancel(context.Background())
	Register()
	store := inmem.NewFromObject(map[string]any{})
	pq, err := rego.New(rego.Query("x := data.p.n"), rego.Module("p.rego", modules["p.rego"]), rego.Store(store), rego.Target(Target)).PrepareForEval(WithStore(ctx, store))
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := pq.Eval(ctx); err != nil || len(rs) != 1 {
		t.Fatalf("before cancelling: %v, %v", rs, err)
	}
	cancel()
	rs, err := pq.Eval(ctx)
	if code(err) != topdown.CancelErr {
		t.Fatalf("cancelled: got %v, %v; want a %s", rs, err, topdown.CancelErr)
	}
}

// TestCancellingStopsALoop: a context cancelled while the evaluation loops stops it
// within a few steps.
func TestCancellingStopsALoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	cancels := rego.Function1(&rego.Function{Name: "cancels", Decl: typesAnyToAny()}, func(_ rego.BuiltinContext, a *ast.Term) (*ast.Term, error) {
		calls++
		cancel()
		return a, nil
	})
	got := evaluate(t, ctx, map[string]string{"p.rego": `package p
n := count([x | some x in numbers.range(1, 100000); cancels(x)])`}, nil, "x := data.p.n", nil, true, cancels)
	if code(got.err) != topdown.CancelErr || calls > 100 {
		t.Fatalf("got %v after %d calls; want a %s within 100", got, calls, topdown.CancelErr)
	}
}

// TestPreparingWithoutAStoreFails: the evaluator must be told where data is.
func TestPreparingWithoutAStoreFails(t *testing.T) {
	Register()
	_, err := rego.New(rego.Query("x := 1"), rego.Target(Target)).PrepareForEval(context.Background())
	if err == nil || !strings.Contains(err.Error(), "WithStore") {
		t.Fatalf("got %v, want an error that says to use WithStore", err)
	}
}

func typesAnyToAny() *types.Function { return types.NewFunction(types.Args(types.A), types.A) }
