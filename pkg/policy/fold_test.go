package policy

import (
	"context"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// TestFoldingKeepsOnlyWhatTheConfigurationDecides folds a module whose rules depend on
// the configuration, the input, the clock or nothing at all, and checks which become
// constants.
func TestFoldingKeepsOnlyWhatTheConfigurationDecides(t *testing.T) {
	src := `package t

doubled := data.bailiff.config.x * 2

derived := doubled + 1

default flag := false

flag if data.bailiff.config.x > 1

reads_input := input.a

through_function := f(1)

f(v) := v + input.b

clock := time.now_ns()

with_data := x if x := data.bailiff.config.x with data.bailiff.config.x as 3

missing := data.bailiff.config.nope

constant := 3

items contains data.bailiff.config.x
`
	m := ast.MustParseModuleWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	before := m.String()
	modules := map[string]*ast.Module{"t.rego": m}
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if c.Compile(modules); c.Failed() {
		t.Fatal(c.Errors)
	}
	store := inmem.NewFromObject(map[string]any{"bailiff": map[string]any{"config": map[string]any{"x": 2}}})
	values, err := constantValues(context.Background(), c, store)
	if err != nil {
		t.Fatal(err)
	}
	var folded []string
	for p := range values {
		folded = append(folded, p)
	}
	slices.Sort(folded)
	want := []string{"data.t.derived", "data.t.doubled", "data.t.flag"}
	if !slices.Equal(folded, want) {
		t.Fatalf("folded %v, want %v", folded, want)
	}
	if got := values["data.t.derived"].String(); got != "5" {
		t.Errorf("derived folded to %s, want 5", got)
	}

	out, err := foldConstants(context.Background(), c, store, modules)
	if err != nil {
		t.Fatal(err)
	}
	if out["t.rego"] == m {
		t.Fatal("the module with folded rules was not copied")
	}
	var flags int
	for _, r := range out["t.rego"].Rules {
		if r.Head.Ref().String() == "flag" {
			flags++
			if r.Default || r.Head.Value.String() != "true" {
				t.Errorf("flag folded to %v", r)
			}
		}
	}
	if flags != 1 {
		t.Errorf("flag has %d definitions after folding, want 1", flags)
	}
	if m.String() != before {
		t.Errorf("the original module changed:\n%s", m)
	}
}

// TestViolationsReadingTheirMetadataAreNotCombined keeps a policy whose violation rule
// reads rego.metadata (which depends on where the rule is written) out of the combined
// rule.
func TestViolationsReadingTheirMetadataAreNotCombined(t *testing.T) {
	modules := map[string]*ast.Module{
		"a.rego": ast.MustParseModuleWithOpts("package p.a\n\nviolation contains {\"msg\": x} if x := input.a\n", ast.ParserOptions{RegoVersion: ast.RegoV1}),
		"b.rego": ast.MustParseModuleWithOpts("package p.b\n\nviolation contains c if c := rego.metadata.chain()\n", ast.ParserOptions{RegoVersion: ast.RegoV1}),
		"c.rego": ast.MustParseModuleWithOpts("package p.c\n\nviolation := {1}\n", ast.ParserOptions{RegoVersion: ast.RegoV1}),
	}
	resolved, err := resolveRefs(modules)
	if err != nil {
		t.Fatal(err)
	}
	m, combined, err := combineViolations(resolved, ast.MustParseRef("data.q"), []string{"p.a", "p.b", "p.c"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(combined, []bool{true, false, false}) {
		t.Errorf("combined %v, want only p.a", combined)
	}
	if len(m.Rules) != 1 || m.Rules[0].Head.Key.String() != `[0, {"msg": x}]` {
		t.Errorf("combined rules: %v", m.Rules)
	}
}
