package policy

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/bailiff/bailiff/pkg/config"
)

// TestResult is the outcome of one test_ rule.
type TestResult struct {
	Package  string        `json:"package"`
	Name     string        `json:"name"`
	Location string        `json:"location"` // file:row:col
	Failed   bool          `json:"failed,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Passed reports whether the test passed.
func (r TestResult) Passed() bool { return !r.Failed && r.Error == "" }

// String is the outcome as a line: "file:row:col: test pkg.name failed".
func (r TestResult) String() string {
	switch {
	case r.Error != "":
		return fmt.Sprintf("%s: test %s.%s errored: %s", r.Location, r.Package, r.Name, r.Error)
	case r.Failed:
		return fmt.Sprintf("%s: test %s.%s failed", r.Location, r.Package, r.Name)
	}
	return fmt.Sprintf("%s: test %s.%s passed", r.Location, r.Package, r.Name)
}

// Test runs every test_ rule of the sources against the default configuration, as
// `opa test` does (the default configuration is what `opa test policies/` loads from
// policies/data.yaml). Results are sorted by location.
func Test(ctx context.Context, sources []Source) ([]TestResult, error) {
	mods, err := readModules(sources, true)
	if err != nil {
		return nil, err
	}
	modules := make(map[string]*ast.Module, len(mods))
	for _, m := range mods {
		modules[m.file] = m.parsed
	}
	return testModules(ctx, modules)
}

func testModules(ctx context.Context, modules map[string]*ast.Module) ([]TestResult, error) {
	defaults, err := config.Default()
	if err != nil {
		return nil, err
	}
	data, err := configData(defaults)
	if err != nil {
		return nil, err
	}
	store := inmem.NewFromObjectWithOpts(map[string]any{"bailiff": map[string]any{"config": data}}, inmem.OptRoundTripOnWrite(false))
	ch, err := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(store).
		SetModules(modules).
		SetParallel(runtime.GOMAXPROCS(0)).
		RunTests(ctx, nil)
	if err != nil {
		return nil, &LoadError{Problems: formatErrors(err)}
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{Package: strings.TrimPrefix(r.Package, "data."), Name: r.Name, Failed: r.Fail, Duration: r.Duration}
		if r.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d:%d", r.Location.File, r.Location.Row, r.Location.Col)
		}
		if r.Error != nil {
			tr.Error = r.Error.Error()
		}
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Location < out[j].Location })
	return out, nil
}
