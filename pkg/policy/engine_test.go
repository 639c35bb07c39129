package policy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/policies"
)

// A small policy set standing apart from the library, so these tests check the engine.
const (
	labelPolicy = `# METADATA
# title: Objects carry a team label
# scope: package
# custom:
#   id: TST-001
#   severity: medium
#   enforcement: deny
#   kinds: [workloads, ConfigMap]
#   controls: [CIS-5.7.1]
package bailiff.test.team

violation contains {"msg": "add a team label", "field": "metadata.labels.team"} if {
	not input.request.object.metadata.labels.team
}
`
	labelPolicyTest = `package bailiff.test.team_test

import data.bailiff.test.team

test_missing_label_is_a_violation if {
	count(team.violation) == 1 with input as {"request": {"object": {"metadata": {}}}}
}
`
	warnPolicy = `# METADATA
# title: Everything warns
# scope: package
# custom:
#   id: TST-002
#   severity: low
#   enforcement: deny
#   kinds: ["*"]
#   controls: []
package bailiff.test.warns

violation contains {"msg": "always", "enforcement": "warn"} if true
`
	deletePolicy = `# METADATA
# title: Deletes are seen
# scope: package
# custom:
#   id: TST-003
#   severity: high
#   enforcement: deny
#   kinds: [Namespace]
#   controls: []
#   operations: [DELETE]
package bailiff.test.deletes

violation contains {"msg": "do not delete namespaces"} if true
`
	mutatePolicy = `# METADATA
# title: Adds a team label
# scope: package
# custom:
#   id: TST-004
#   severity: low
#   enforcement: deny
#   kinds: [workloads]
#   controls: []
#   mutates: true
package bailiff.test.addteam

patch contains {"op": "add", "path": "/metadata/labels", "value": {"team": "unowned"}} if {
	not input.request.object.metadata.labels
}

patch contains {"op": "add", "path": "/metadata/labels/team", "value": "unowned"} if {
	input.request.object.metadata.labels
	not input.request.object.metadata.labels.team
}
`
)

func testSource(files map[string]string) Source {
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return Source{Name: "testdata", FS: fsys}
}

func baseFiles() map[string]string {
	return map[string]string{
		"test/team.rego":      labelPolicy,
		"test/team_test.rego": labelPolicyTest,
		"test/warns.rego":     warnPolicy,
		"test/deletes.rego":   deletePolicy,
		"test/addteam.rego":   mutatePolicy,
	}
}

func defaults(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newEngine(t *testing.T, cfg *config.Config, files map[string]string) *Engine {
	t.Helper()
	e, err := New(context.Background(), Options{Sources: []Source{testSource(files)}, Config: cfg,
		Now: func() time.Time { return time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func objectInput(t *testing.T, obj map[string]any, op string) *input.Input {
	t.Helper()
	req := forObject(t, obj)
	req.Operation = op
	in, err := input.New(req, input.Context{Mode: input.ModeScan})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func pod(namespace string, labels map[string]any) map[string]any {
	meta := map[string]any{"name": "p", "namespace": namespace}
	if labels != nil {
		meta["labels"] = labels
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": map[string]any{}}
}

func TestEvaluateSelectsPoliciesByKindAndOperation(t *testing.T) {
	e := newEngine(t, defaults(t), baseFiles())
	tests := []struct {
		name string
		obj  map[string]any
		op   string
		want []string // "policy:enforcement"
	}{
		{"a pod without a team label breaks the label policy and warns", pod("a", nil), "CREATE", []string{"TST-001:deny", "TST-002:warn"}},
		{"a labelled pod only warns", pod("a", map[string]any{"team": "x"}), "CREATE", []string{"TST-002:warn"}},
		{"a kind named by no policy gets only the any-kind policies", map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}, "CREATE", []string{"TST-002:warn"}},
		{"deleting a pod runs nothing: no policy asks for DELETE of pods", pod("a", nil), "DELETE", nil},
		{"deleting a namespace runs the policy that asks for it", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "n"}}, "DELETE", []string{"TST-003:deny"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.Evaluate(context.Background(), objectInput(t, tt.obj, tt.op))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range res.Violations {
				got = append(got, v.Policy+":"+v.Enforcement)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvaluateFillsViolationFromMetadata(t *testing.T) {
	e := newEngine(t, defaults(t), baseFiles())
	res, err := e.Evaluate(context.Background(), objectInput(t, pod("a", nil), "CREATE"))
	if err != nil {
		t.Fatal(err)
	}
	v := res.Violations[0]
	if v.Title != "Objects carry a team label" || v.Severity != "medium" || v.Field != "metadata.labels.team" || v.Controls[0] != "CIS-5.7.1" {
		t.Errorf("violation = %+v", v)
	}
	if v.String() != "[TST-001] add a team label" {
		t.Errorf("String() = %q", v.String())
	}
	if !res.Denied() || res.Evaluated != 2 || res.PolicySetVersion == "" {
		t.Errorf("result = %+v", res)
	}
}

func TestConfigEnforcementOverridesEverything(t *testing.T) {
	cfg := defaults(t)
	cfg.Enforcement = map[string]string{"TST-001": "audit", "TST-002": "deny"}
	e := newEngine(t, cfg, baseFiles())
	res, err := e.Evaluate(context.Background(), objectInput(t, pod("a", nil), "CREATE"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Violations[0].Enforcement != "audit" || res.Violations[1].Enforcement != "deny" {
		t.Errorf("violations = %+v", res.Violations)
	}
}

func TestExemptionsApplyUntilTheyExpire(t *testing.T) {
	day := func(s string) config.Date { d, _ := time.Parse("2006-01-02", s); return config.Date{Time: d} }
	cfg := defaults(t)
	cfg.Exemptions = []config.Exemption{
		{Policy: "TST-001", Namespace: "legacy", Owner: "team-a", Reason: "migration", Expires: day("2027-01-31")},
		{Policy: "TST-001", Namespace: "old", Owner: "team-b", Reason: "gone", Expires: day("2026-12-31")},
	}
	e := newEngine(t, cfg, baseFiles())

	res, err := e.Evaluate(context.Background(), objectInput(t, pod("legacy", nil), "CREATE"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Denied() || len(res.Exempted) != 1 || res.Exempted[0].Exemption.Owner != "team-a" {
		t.Errorf("an active exemption must let the violation through and be reported: %+v", res)
	}

	res, err = e.Evaluate(context.Background(), objectInput(t, pod("old", nil), "CREATE"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Denied() || len(res.Exempted) != 0 {
		t.Errorf("an expired exemption must no longer apply: %+v", res)
	}
}

func TestMutateIsIdempotent(t *testing.T) {
	e := newEngine(t, defaults(t), baseFiles())
	for _, obj := range []map[string]any{pod("a", nil), pod("a", map[string]any{"app": "x"})} {
		m, err := e.Mutate(context.Background(), objectInput(t, obj, "CREATE"))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Patches) != 1 {
			t.Fatalf("want one patch, got %+v", m.Patches)
		}
		patched, err := ApplyPatches(obj, m.Patches)
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.Mutate(context.Background(), objectInput(t, patched, "CREATE"))
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Patches) != 0 {
			t.Errorf("mutating the mutated object must change nothing, got %+v", again.Patches)
		}
		res, err := e.Evaluate(context.Background(), objectInput(t, patched, "CREATE"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Denied() {
			t.Errorf("the mutated object should pass: %+v", res.Violations)
		}
	}
}

func TestBadPolicySetsAreRejectedWithLocation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(map[string]string)
		cfg   func(*config.Config)
		wants []string
	}{
		{"a syntax error names file, row and column",
			func(f map[string]string) {
				f["test/broken.rego"] = "package bailiff.test.broken\n\nviolation contains x if {\n\tx := := 1\n}\n"
			},
			nil, []string{"testdata/test/broken.rego:4:"}},
		{"a compile error names file, row and column",
			func(f map[string]string) {
				f["test/undefined.rego"] = strings.Replace(labelPolicy, "package bailiff.test.team", "package bailiff.test.undefined", 1) +
					"\nviolation contains {\"msg\": x} if { x := no_such_function(1) }\n"
				f["test/undefined.rego"] = strings.Replace(f["test/undefined.rego"], "TST-001", "TST-009", 1)
			},
			nil, []string{"testdata/test/undefined.rego:", "no_such_function"}},
		{"a failing Rego test rejects the set",
			func(f map[string]string) {
				f["test/team_test.rego"] += "\ntest_that_fails if { count(team.violation) == 7 with input as {\"request\": {\"object\": {}}} }\n"
			},
			nil, []string{"test bailiff.test.team_test.test_that_fails failed", "testdata/test/team_test.rego:"}},
		{"a policy without metadata",
			func(f map[string]string) {
				f["test/bare.rego"] = "package bailiff.test.bare\n\nviolation contains {\"msg\": \"x\"} if true\n"
			},
			nil, []string{"testdata/test/bare.rego:1:1", "no METADATA"}},
		{"bad metadata values",
			func(f map[string]string) {
				f["test/team.rego"] = strings.Replace(strings.Replace(labelPolicy, "severity: medium", "severity: urgent", 1), "enforcement: deny", "enforcement: block", 1)
			},
			nil, []string{"custom.severity \"urgent\"", "custom.enforcement \"block\""}},
		{"a duplicate policy id",
			func(f map[string]string) {
				f["test/again.rego"] = strings.Replace(labelPolicy, "package bailiff.test.team", "package bailiff.test.again", 1)
			},
			nil, []string{"policy id TST-001 is already used"}},
		{"patch rules without mutates: true",
			func(f map[string]string) {
				f["test/addteam.rego"] = strings.Replace(mutatePolicy, "#   mutates: true\n", "", 1)
			},
			nil, []string{"must say mutates: true"}},
		{"config naming a policy that is not loaded",
			nil,
			func(c *config.Config) { c.Enforcement = map[string]string{"TST-404": "warn"} },
			[]string{"enforcement[TST-404]: no loaded policy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := baseFiles()
			if tt.edit != nil {
				tt.edit(files)
			}
			cfg := defaults(t)
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			_, err := New(context.Background(), Options{Sources: []Source{testSource(files)}, Config: cfg})
			wantLoadError(t, err, tt.wants...)
		})
	}
}

// wantLoadError fails the test unless err is a LoadError mentioning each of wants.
func wantLoadError(t *testing.T, err error, wants ...string) {
	t.Helper()
	var loadErr *LoadError
	if !errors.As(err, &loadErr) {
		t.Fatalf("want a LoadError, got %v", err)
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestFailedReloadKeepsTheRunningSet(t *testing.T) {
	e := newEngine(t, defaults(t), baseFiles())
	before := e.Set().Version()
	broken := baseFiles()
	broken["test/team.rego"] = "package bailiff.test.team\nviolation contains"
	if err := e.Reload(context.Background(), Options{Sources: []Source{testSource(broken)}}); err == nil {
		t.Fatal("a broken set must be rejected")
	}
	if e.Set().Version() != before {
		t.Error("the running set must keep serving after a failed reload")
	}
	res, err := e.Evaluate(context.Background(), objectInput(t, pod("a", nil), "CREATE"))
	if err != nil || !res.Denied() {
		t.Errorf("the old set still evaluates: %v %+v", err, res)
	}

	cfg := defaults(t)
	cfg.Enforcement = map[string]string{"TST-001": "warn"}
	if err := e.Reload(context.Background(), Options{Sources: []Source{testSource(baseFiles())}, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	if e.Set().Version() == before {
		t.Error("a configuration change is a new version")
	}
	res, _ = e.Evaluate(context.Background(), objectInput(t, pod("a", nil), "CREATE"))
	if res.Denied() {
		t.Error("the reloaded configuration applies to the next evaluation")
	}
}

func TestEvaluateWithKeepsToTheSetGiven(t *testing.T) {
	e := newEngine(t, defaults(t), baseFiles())
	old := e.Set()
	cfg := defaults(t)
	cfg.Enforcement = map[string]string{"TST-001": "warn"}
	if err := e.Reload(context.Background(), Options{Sources: []Source{testSource(baseFiles())}, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	in := objectInput(t, pod("a", nil), "CREATE")
	res, err := e.EvaluateWith(context.Background(), old, in)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Denied() || res.PolicySetVersion != old.Version() {
		t.Errorf("the set given decides, not the one reloaded since: denied %v, version %s, want %s", res.Denied(), res.PolicySetVersion, old.Version())
	}
	if res, _ := e.Evaluate(context.Background(), in); res.Denied() || res.PolicySetVersion != e.Set().Version() {
		t.Error("Evaluate uses the set in force now")
	}
	m, err := e.MutateWith(context.Background(), old, in)
	if err != nil || m.PolicySetVersion != old.Version() {
		t.Errorf("MutateWith uses the set given: %v %+v", err, m)
	}
}

// A ConfigMap mounted as the policy directory, laid out as the kubelet lays it out:
// the files in a timestamped directory, "..data" linking to it, and links to
// "..data/<file>" beside. The policy is loaded once, not once per path.
func TestPolicyDirectoryMountedFromAConfigMap(t *testing.T) {
	dir := t.TempDir()
	stamp := "..2026_11_24_06_00_00.123456789"
	if err := os.Mkdir(filepath.Join(dir, stamp), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"team.rego": labelPolicy, "team_test.rego": labelPolicyTest} {
		if err := os.WriteFile(filepath.Join(dir, stamp, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(stamp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"team.rego", "team_test.rego"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	e, err := New(context.Background(), Options{Sources: []Source{Embedded(), Dir(dir)}})
	if err != nil {
		t.Fatalf("the mounted directory: %v", err)
	}
	n := 0
	for _, p := range e.Set().Policies() {
		if p.ID == "TST-001" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("TST-001 loaded %d times, want once", n)
	}
}

// A policy directory that holds the library (the repository's policies/ passed as
// --policies) adds nothing: files identical to the library's are read once. A file that
// redeclares a built-in package with other content, or shows up under a library file's
// name, is refused: a directory adds policies, it never replaces the library's.
func TestPolicyDirectoryHoldingTheLibrary(t *testing.T) {
	library, err := New(context.Background(), Options{Sources: []Source{Embedded()}, SkipTests: true})
	if err != nil {
		t.Fatal(err)
	}
	copyOf := func(t *testing.T, dir string) {
		t.Helper()
		err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(policies.FS, p)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, p), b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(t *testing.T, file, body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit := func(t *testing.T, file, old, new string) {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s does not hold %q", file, old)
		}
		if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		dir      string // the copy's name; "policies" is the library's own
		absolute bool   // passed by its absolute path, as the chart mounts policies
		change   func(t *testing.T, dir string)
		added    int      // policies loaded beside the library's
		wants    []string // nothing: the set loads
	}{
		{"an exact copy, as ./policies", "policies", false, nil, 0, nil},
		{"an exact copy by its absolute path", "vendored", true, nil, 0, nil},
		{"an exact copy beside a policy of the team's", "team", false, func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "team.rego"), labelPolicy)
		}, 1, nil},
		{"a built-in policy edited", "vendored", false, func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "rbac", "wildcards.rego"), "violation contains", "# edited\nviolation contains")
		}, 0, []string{"vendored/rbac/wildcards.rego: package bailiff.rbac.wildcards belongs to the built-in library (policies/rbac/wildcards.rego)", "does not replace the library's"}},
		{"a built-in policy edited, by its absolute path", "vendored", true, func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "rbac", "wildcards.rego"), "violation contains", "# edited\nviolation contains")
		}, 0, []string{"vendored/rbac/wildcards.rego: package bailiff.rbac.wildcards belongs to the built-in library (policies/rbac/wildcards.rego)"}},
		{"a library module edited", "vendored", false, func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "lib", "k8s.rego"), "package bailiff.lib.k8s", "package bailiff.lib.k8s\n\n# edited")
		}, 0, []string{"vendored/lib/k8s.rego: package bailiff.lib.k8s belongs to the built-in library"}},
		{"a library module edited, under the library's own name", "policies", false, func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "lib", "k8s.rego"), "package bailiff.lib.k8s", "package bailiff.lib.k8s\n\n# edited")
		}, 0, []string{"policies/lib/k8s.rego: package bailiff.lib.k8s belongs to the built-in library"}},
		{"a team's policy under a library file's name", "policies", false, func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "rbac", "wildcards.rego"), labelPolicy)
		}, 0, []string{"policies/rbac/wildcards.rego: two different files are read under this name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			t.Chdir(root) // "policies" is then shown as the library's files are
			copyOf(t, tt.dir)
			if tt.change != nil {
				tt.change(t, tt.dir)
			}
			dir := tt.dir
			if tt.absolute {
				dir = filepath.Join(root, tt.dir)
			}
			e, err := New(context.Background(), Options{Sources: []Source{Embedded(), Dir(dir)}})
			if len(tt.wants) > 0 {
				wantLoadError(t, err, tt.wants...)
				return
			}
			if err != nil {
				t.Fatalf("the copy of the library: %v", err)
			}
			if got, want := len(e.Set().Policies()), len(library.Set().Policies())+tt.added; got != want {
				t.Errorf("%d policies loaded, want %d", got, want)
			}
		})
	}
}

func TestRestrictedEngineEvaluatesOnlyWhatItPrepared(t *testing.T) {
	ctx := context.Background()
	full, err := New(ctx, Options{SkipTests: true})
	if err != nil {
		t.Fatal(err)
	}
	restricted, err := New(ctx, Options{SkipTests: true, Restrict: &Restriction{Kinds: []string{"Deployment", "Widget"}, Operations: []string{input.OpCreate}}})
	if err != nil {
		t.Fatal(err)
	}
	in := benchDeploymentInput(t)
	want, err := full.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := restricted.Evaluate(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restricted %+v, full %+v", got, want)
	}
	if _, err := restricted.Mutate(ctx, in); err != nil {
		t.Errorf("mutating a prepared kind: %v", err)
	}
	// A kind no policy names is evaluated by the queries of every other kind.
	widget, err := input.New(forObject(t, map[string]any{"apiVersion": "x/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}), input.Context{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restricted.Evaluate(ctx, widget); err != nil {
		t.Errorf("a prepared kind no policy names: %v", err)
	}
	pod, err := input.New(forObject(t, map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"}}), input.Context{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restricted.Evaluate(ctx, pod); err == nil || !strings.Contains(err.Error(), "prepared for kinds") {
		t.Errorf("a kind it did not prepare: %v, want an error", err)
	}
	if _, err := restricted.Mutate(ctx, pod); err == nil {
		t.Error("mutating a kind it did not prepare: no error")
	}
}

// forObject is input.ForObject for the objects tests build, which always convert.
func forObject(tb testing.TB, obj map[string]any) input.Request {
	tb.Helper()
	req, err := input.ForObject(obj)
	if err != nil {
		tb.Fatal(err)
	}
	return req
}
