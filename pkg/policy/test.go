package policy

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
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

// Test runs every test_ rule of the sources as `opa test` runs those of directories:
// besides the Rego files, each source's data files (*.json, *.yaml, *.yml) are loaded
// into data at their directory's path within the source, over the default configuration
// at data.bailiff.config (which the library's own data.yaml holds too). Results are
// sorted by location.
func Test(ctx context.Context, sources []Source) ([]TestResult, error) {
	mods, err := readModules(sources, true)
	if err != nil {
		return nil, err
	}
	return testSources(ctx, sources, mods)
}

// TestWithLibrary is Test with the embedded library's policies loaded beside the
// sources, so that the tests of policies importing data.bailiff.lib run. The library's
// own tests do not run. A package the sources declare replaces the library's: a copy of
// the library, whole or in part (being edited, say), is tested as it is in the sources
// instead of being declared twice.
func TestWithLibrary(ctx context.Context, sources []Source) ([]TestResult, error) {
	mods, err := readModules(sources, true)
	if err != nil {
		return nil, err
	}
	library, err := readModules([]Source{Embedded()}, false)
	if err != nil {
		return nil, err
	}
	declared := make(map[string]bool, len(mods))
	for _, m := range mods {
		declared[m.parsed.Package.Path.String()] = true
	}
	for _, m := range library {
		if !declared[m.parsed.Package.Path.String()] {
			mods = append(mods, m)
		}
	}
	return testSources(ctx, sources, mods)
}

// testSources runs the tests of mods with the data files of sources.
func testSources(ctx context.Context, sources []Source, mods []module) ([]TestResult, error) {
	data, err := loadData(sources)
	if err != nil {
		return nil, err
	}
	modules := make(map[string]*ast.Module, len(mods))
	for _, m := range mods {
		if _, ok := modules[m.file]; !ok { // the sources come first, and win
			modules[m.file] = m.parsed
		}
	}
	return testModulesWith(ctx, modules, data)
}

// loadData reads the data files of the sources as opa test does: every *.json, *.yaml
// and *.yml file, into data at its directory's path within its source.
func loadData(sources []Source) (map[string]any, error) {
	data := map[string]any{}
	for _, src := range sources {
		loaded, err := loader.NewFileLoader().WithFS(src.FS).Filtered([]string{"."}, dataFiles)
		if err != nil {
			return nil, fmt.Errorf("load data files from %s: %w", src.Name, err)
		}
		mergeData(data, loaded.Documents)
	}
	return data, nil
}

// dataFiles is a loader filter that keeps data files and the directories holding them,
// except for Kubernetes' ".." volume machinery (see readModules).
func dataFiles(_ string, info fs.FileInfo, depth int) bool {
	if depth > 0 && strings.HasPrefix(info.Name(), "..") {
		return true
	}
	if info.IsDir() {
		return false
	}
	switch path.Ext(info.Name()) {
	case ".json", ".yaml", ".yml":
		return false
	}
	return true
}

// mergeData lays src over dst: objects merge key by key, anything else in src replaces
// what dst holds.
func mergeData(dst, src map[string]any) {
	for k, v := range src {
		d, dok := dst[k].(map[string]any)
		s, sok := v.(map[string]any)
		if dok && sok {
			mergeData(d, s)
			continue
		}
		dst[k] = v
	}
}

// testModules runs the tests of modules against the default configuration.
func testModules(ctx context.Context, modules map[string]*ast.Module) ([]TestResult, error) {
	return testModulesWith(ctx, modules, nil)
}

// testModulesWith runs the tests of modules with data laid over the default configuration.
func testModulesWith(ctx context.Context, modules map[string]*ast.Module, data map[string]any) ([]TestResult, error) {
	defaults, err := config.Default()
	if err != nil {
		return nil, err
	}
	cfg, err := configData(defaults)
	if err != nil {
		return nil, err
	}
	base := map[string]any{"bailiff": map[string]any{"config": cfg}}
	mergeData(base, data)
	store := inmem.NewFromObjectWithOpts(base, inmem.OptRoundTripOnWrite(false))
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
