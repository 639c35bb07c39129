package scan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/manifest"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/scan"
	"github.com/bailiff/bailiff/test/bench/corpus"
)

func engine(tb testing.TB) *policy.Engine {
	tb.Helper()
	cfg, err := config.Load("../../test/demo/config.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	e, err := policy.New(context.Background(), policy.Options{Config: cfg, SkipTests: true})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func scanExamples(t *testing.T) *scan.Report {
	t.Helper()
	paths, err := manifest.Files([]string{"../../test/examples"})
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := manifest.ReadAll(paths, nil)
	if len(errs) > 0 {
		t.Fatalf("the examples must read cleanly: %v", errs)
	}
	return scan.New(engine(t), 0).Scan(context.Background(), objs, nil)
}

// TestExamplesGetTheDecisionsTheirCommentsPromise pins the demo's story.
func TestExamplesGetTheDecisionsTheirCommentsPromise(t *testing.T) {
	report := scanExamples(t)
	type want struct {
		verdict  string
		policies []string // policies that must be among the violations or patches
	}
	expect := map[string]want{
		"Deployment shop/storefront":                  {verdict: "passed"},
		"CronJob shop/nightly-report":                 {verdict: "passed"},
		"Role shop/storefront-config-reader":          {verdict: "passed"},
		"Deployment shop/cache":                       {verdict: "denied", policies: []string{"BLF-IMG-001", "BLF-IMG-002"}},
		"Deployment shop/checkout":                    {verdict: "passed", policies: []string{"BLF-RES-003"}},
		"Pod shop/node-debugger":                      {verdict: "denied", policies: []string{"BLF-PSS-003", "BLF-PSS-007"}},
		"StatefulSet customers/crm-db":                {verdict: "passed", policies: []string{"BLF-GEO-003"}},
		"PersistentVolumeClaim customers/crm-backups": {verdict: "passed"},
		"PersistentVolumeClaim customers/crm-exports": {verdict: "denied", policies: []string{"BLF-GEO-004"}},
		"ClusterRoleBinding contractor-admin":         {verdict: "denied", policies: []string{"BLF-RBAC-002"}},
		"Role shop/do-anything":                       {verdict: "denied", policies: []string{"BLF-RBAC-001"}},
		"Job legacy/invoice-export":                   {verdict: "warned"},
	}
	seen := map[string]bool{}
	for _, r := range report.Results {
		key := r.Kind + " " + r.Name
		if r.Namespace != "" {
			key = r.Kind + " " + r.Namespace + "/" + r.Name
		}
		w, ok := expect[key]
		if !ok {
			continue
		}
		seen[key] = true
		if r.Error != "" {
			t.Errorf("%s: %s", key, r.Error)
			continue
		}
		verdict := "passed"
		switch {
		case r.Denied():
			verdict = "denied"
		case r.Warned():
			verdict = "warned"
		}
		if verdict != w.verdict {
			t.Errorf("%s: %s, want %s: %+v", key, verdict, w.verdict, r.Violations)
		}
		found := map[string]bool{}
		for _, v := range r.Violations {
			found[v.Policy] = true
		}
		for _, p := range r.Patches {
			found[p.Policy] = true
		}
		for _, p := range w.policies {
			if !found[p] {
				t.Errorf("%s: %s not reported (got %v)", key, p, found)
			}
		}
	}
	for key := range expect {
		if !seen[key] {
			t.Errorf("%s not in the scan", key)
		}
	}
	legacy := findResult(report, "invoice-export")
	if len(legacy.Exempted) != 1 || legacy.Exempted[0].Exemption.Owner != "team-legacy" {
		t.Errorf("the legacy job's exemption must be reported: %+v", legacy.Exempted)
	}
	if len(report.Notes) == 0 {
		t.Error("an offline scan must say once that images were not scanned")
	}
}

func findResult(r *scan.Report, name string) scan.Result {
	for _, res := range r.Results {
		if res.Name == name {
			return res
		}
	}
	return scan.Result{}
}

func TestOutputFormats(t *testing.T) {
	report := scanExamples(t)
	policies := engine(t).Set().Policies()

	t.Run("json has the documented shape", func(t *testing.T) {
		var buf bytes.Buffer
		if err := scan.Write(&buf, "json", report, policies); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Results []struct {
				Source, Kind, Namespace, Name string
				Violations                    []map[string]any
				Patches                       []map[string]any
			}
			Summary map[string]int
		}
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Summary["objects"] != len(report.Results) || doc.Summary["denied"] == 0 {
			t.Errorf("summary = %v", doc.Summary)
		}
		cache := doc.Results[indexOf(report, "cache")]
		if !strings.HasPrefix(cache.Source, "../../test/examples/20-unapproved-image.yaml:") {
			t.Errorf("source = %q", cache.Source)
		}
		v := cache.Violations[0]
		for _, key := range []string{"policy", "title", "severity", "enforcement", "message", "field", "controls"} {
			if _, ok := v[key]; !ok {
				t.Errorf("violation lacks %q: %v", key, v)
			}
		}
		checkout := doc.Results[indexOf(report, "checkout")]
		if len(checkout.Patches) == 0 || checkout.Patches[0]["op"] != "add" {
			t.Errorf("patches = %v", checkout.Patches)
		}
	})

	t.Run("sarif names rules and file lines", func(t *testing.T) {
		var buf bytes.Buffer
		if err := scan.Write(&buf, "sarif", report, policies); err != nil {
			t.Fatal(err)
		}
		var log struct {
			Version string
			Runs    []struct {
				Tool struct {
					Driver struct{ Rules []struct{ ID string } }
				}
				Results []struct {
					RuleID, Level string
					RuleIndex     int
					Locations     []struct {
						PhysicalLocation struct {
							ArtifactLocation struct{ URI string }
							Region           struct{ StartLine int }
						}
					}
				}
			}
		}
		if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
			t.Fatal(err)
		}
		run := log.Runs[0]
		if log.Version != "2.1.0" || len(run.Tool.Driver.Rules) != len(policies) || len(run.Results) == 0 {
			t.Fatalf("sarif = %+v", log)
		}
		for _, r := range run.Results {
			if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
				t.Errorf("ruleIndex %d does not point at %s", r.RuleIndex, r.RuleID)
			}
			loc := r.Locations[0].PhysicalLocation
			if loc.ArtifactLocation.URI == "" || loc.Region.StartLine < 1 {
				t.Errorf("location = %+v", loc)
			}
		}
	})

	t.Run("junit parses back with one failure per denied object", func(t *testing.T) {
		var buf bytes.Buffer
		if err := scan.Write(&buf, "junit", report, policies); err != nil {
			t.Fatal(err)
		}
		var suites struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		}
		if err := xml.Unmarshal(buf.Bytes(), &suites); err != nil {
			t.Fatal(err)
		}
		if suites.Tests != report.Summary.Objects || suites.Failures != report.Summary.Denied {
			t.Errorf("junit tests=%d failures=%d, summary %+v", suites.Tests, suites.Failures, report.Summary)
		}
	})

	t.Run("table ends with the summary", func(t *testing.T) {
		var buf bytes.Buffer
		if err := scan.Write(&buf, "table", report, policies); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "DENIED  Deployment shop/cache") || !strings.Contains(buf.String(), " objects: ") {
			t.Errorf("table:\n%s", buf.String())
		}
	})

	if err := scan.Write(&bytes.Buffer{}, "yaml", report, policies); err == nil {
		t.Error("an unknown format is an error")
	}
}

func indexOf(r *scan.Report, name string) int {
	for i, res := range r.Results {
		if res.Name == name {
			return i
		}
	}
	return -1
}

// TestScanCorpusMatchesItsDesign checks the benchmark corpus really is a fifth bad.
func TestScanCorpusMatchesItsDesign(t *testing.T) {
	objs, errs := manifest.Decode("corpus.yaml", strings.NewReader(corpus.Stream(100)))
	if len(errs) > 0 || len(objs) != 100 {
		t.Fatalf("%d objects, errors %v", len(objs), errs)
	}
	report := scan.New(engine(t), 2).Scan(context.Background(), objs, nil)
	if report.Summary.Errors != 0 || report.Summary.Denied < 10 || report.Summary.Denied > 30 {
		t.Errorf("summary = %+v", report.Summary)
	}
}

// FuzzScan drives arbitrary bytes through the YAML-to-input path and the whole library:
// whatever the input, no panic, and every object gets a result or an error.
func FuzzScan(f *testing.F) {
	for _, seed := range []string{
		corpus.Object(0), corpus.Object(4), corpus.Object(6), corpus.Object(7),
		"apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: 'UPPER CASE'}]}\n",
		"apiVersion: v1\nkind: Pod\nspec: {containers: 7}\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec: {template: {spec: {containers: [null, 1, {image: 5}]}}}\n",
		"apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Pod, metadata: {namespace: [x]}}]\n",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nsubjects: {a: b}\nroleRef: 3\n",
		"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {labels: {bailiff.io/data-class: personal}}\nspec: {storageClassName: 9}\n",
	} {
		f.Add([]byte(seed))
	}
	e := engine(f)
	scanner := scan.New(e, 1)
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := manifest.Decode("fuzz.yaml", bytes.NewReader(data))
		report := scanner.Scan(context.Background(), objs, nil)
		if len(report.Results) != len(objs) {
			t.Fatalf("%d results for %d objects", len(report.Results), len(objs))
		}
	})
}

// BenchmarkScan10000 is decode plus evaluation of 10,000 mixed objects on every CPU; the
// objects/s metric is the number without process start and policy compilation
// (make bench also times the whole bailiff scan process).
func BenchmarkScan10000(b *testing.B) {
	e := engine(b)
	stream := corpus.Stream(10000)
	scanner := scan.New(e, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		objs, errs := manifest.Decode("bench.yaml", strings.NewReader(stream))
		if len(errs) > 0 {
			b.Fatal(errs)
		}
		report := scanner.Scan(ctx, objs, nil)
		if report.Summary.Errors > 0 {
			b.Fatal(report.Errors)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "objects/s")
}

func TestLoadBuildsForEveryKindRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		files  []string
		builds [][]string // the kinds of each build, in order
	}{
		{"kind lines name every kind: one build, while decoding",
			[]string{write("a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n")},
			[][]string{{"Pod", "Service"}}},
		{"a List hides its items' kinds: built after decoding",
			[]string{write("l.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n")},
			[][]string{{"Pod"}}},
		{"JSON: built after decoding",
			[]string{write("a.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`)},
			[][]string{{"ConfigMap"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var builds [][]string
			var mu sync.Mutex
			build := func(ctx context.Context, kinds []string) (*policy.Engine, error) {
				mu.Lock()
				builds = append(builds, kinds)
				mu.Unlock()
				return policy.New(ctx, policy.Options{SkipTests: true, Restrict: &policy.Restriction{Kinds: kinds, Operations: []string{input.OpCreate}}})
			}
			engine, objs, errs, err := scan.Load(context.Background(), tt.files, nil, build)
			if err != nil || len(errs) > 0 || engine == nil {
				t.Fatalf("Load: %v %v", err, errs)
			}
			if len(objs) == 0 {
				t.Fatal("no objects read")
			}
			if !reflect.DeepEqual(builds, tt.builds) {
				t.Errorf("builds = %v, want %v", builds, tt.builds)
			}
		})
	}
}

func TestJSONOutputIsTheReportEncoded(t *testing.T) {
	objs, errs := manifest.Decode("bench.yaml", strings.NewReader(corpus.Stream(40)))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	report := scan.New(engine(t), 0).Scan(context.Background(), objs, []error{errors.New("broken.yaml:3: invalid YAML")})
	report.Notes = []string{"a note with <html> & co"}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := scan.Write(&got, "json", report, nil); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("scan.Write json differs from the report encoded:\n%s\nwant:\n%s", got.String(), want.String())
	}
}
