package scan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

// TestReportsListEmptyListsAsEmpty keeps the documented shape for objects with nothing
// to report: "violations": [] and "patches": [], never null, and the same for every
// other list (a policy without controls included).
func TestReportsListEmptyListsAsEmpty(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, dir, "uncontrolled.rego", `# METADATA
# title: ConfigMaps are labelled
# scope: package
# custom:
#   id: ACME-001
#   severity: low
#   enforcement: warn
#   kinds: [ConfigMap]
package bailiff.acme.uncontrolled

violation contains {"msg": "label the ConfigMap"} if not input.request.object.metadata.labels
`)
	cfg, err := config.Load("../../test/demo/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.New(context.Background(), policy.Options{Config: cfg, SkipTests: true, Sources: []policy.Source{policy.Embedded(), policy.Dir(dir)}})
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := manifest.Decode("m.yaml", strings.NewReader(`apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unlabelled, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: labelled, namespace: shop, labels: {app: shop}}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	report := scan.New(e, 1).Scan(context.Background(), objs, nil)
	if report.Summary.Warned != 1 || report.Summary.Passed != 2 {
		t.Fatalf("summary = %+v, want one warning and two passes", report.Summary)
	}

	tests := []struct {
		format string
		lists  []string // keys whose values must be lists wherever they appear
		want   int      // how many of them the output must hold at least
	}{
		{"json", []string{"results", "violations", "patches", "controls"}, 1 + 3*2 + 1},
		{"sarif", []string{"runs", "results", "rules", "controls", "locations"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.format+" writes [] where a list is empty", func(t *testing.T) {
			var buf bytes.Buffer
			if err := scan.Write(&buf, tt.format, report, e.Set().Policies()); err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if n := checkLists(t, doc, "", tt.lists); n < tt.want {
				t.Errorf("%d lists found, want at least %d:\n%s", n, tt.want, buf.String())
			}
		})
	}
	t.Run("junit writes no empty values as nil or null", func(t *testing.T) {
		var buf bytes.Buffer
		if err := scan.Write(&buf, "junit", report, e.Set().Policies()); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"null", "<nil>", "[]"} {
			if strings.Contains(buf.String(), bad) {
				t.Errorf("junit holds %q:\n%s", bad, buf.String())
			}
		}
	})
}

// checkLists fails the test for every key of lists in doc whose value is not a list,
// and returns how many it found.
func checkLists(t *testing.T, doc any, at string, lists []string) int {
	t.Helper()
	n := 0
	switch x := doc.(type) {
	case map[string]any:
		for k, v := range x {
			if slices.Contains(lists, k) {
				n++
				if _, ok := v.([]any); !ok {
					t.Errorf("%s.%s is %v, want a list", at, k, v)
				}
			}
			n += checkLists(t, v, at+"."+k, lists)
		}
	case []any:
		for i, v := range x {
			n += checkLists(t, v, fmt.Sprintf("%s[%d]", at, i), lists)
		}
	}
	return n
}

func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
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

// podSpec is a pod spec that complies with the demo configuration, with one container
// whose securityContext is changed by adjust (nil: none).
func podSpec(adjust func(securityContext map[string]any)) map[string]any {
	sc := map[string]any{"allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []any{"ALL"}}}
	if adjust != nil {
		adjust(sc)
	}
	return map[string]any{
		"automountServiceAccountToken": false,
		"serviceAccountName":           "app",
		"securityContext":              map[string]any{"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
		"containers": []any{map[string]any{
			"name":            "app",
			"image":           "registry.example.com/app:1.0",
			"resources":       map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "16Mi"}, "limits": map[string]any{"memory": "32Mi"}},
			"securityContext": sc,
		}},
	}
}

// podBearing is an object of kind holding a pod template with spec at template, a
// dotted path ("spec.template"); "" makes spec the object's own, as a Pod's.
func podBearing(kind, apiVersion, template string, spec map[string]any) map[string]any {
	obj := map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata":   map[string]any{"name": "web", "namespace": "shop"},
	}
	if template == "" {
		obj["spec"] = spec
		return obj
	}
	at := obj
	keys := strings.Split(template, ".")
	for _, k := range keys[:len(keys)-1] {
		next := map[string]any{}
		at[k] = next
		at = next
	}
	at[keys[len(keys)-1]] = map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}}, "spec": spec}
	return obj
}

// decodeObjects reads objects built in Go as a manifest would hold them.
func decodeObjects(t *testing.T, file string, objs ...map[string]any) []manifest.Object {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		j, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteString("\n")
	}
	out, errs := manifest.Decode(file, strings.NewReader(b.String()))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return out
}

func TestEveryPodBearingKindReportsTheContainersField(t *testing.T) {
	privileged := podSpec(func(sc map[string]any) { sc["privileged"] = true })
	tests := []struct {
		kind, apiVersion, template string
		field                      string
	}{
		{"Pod", "v1", "", "spec.containers[0].securityContext.privileged"},
		{"Deployment", "apps/v1", "spec.template", "spec.template.spec.containers[0].securityContext.privileged"},
		{"ReplicaSet", "apps/v1", "spec.template", "spec.template.spec.containers[0].securityContext.privileged"},
		{"StatefulSet", "apps/v1", "spec.template", "spec.template.spec.containers[0].securityContext.privileged"},
		{"DaemonSet", "apps/v1", "spec.template", "spec.template.spec.containers[0].securityContext.privileged"},
		{"Job", "batch/v1", "spec.template", "spec.template.spec.containers[0].securityContext.privileged"},
		{"CronJob", "batch/v1", "spec.jobTemplate.spec.template", "spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged"},
		{"ReplicationController", "v1", "spec.template", "spec.template.spec.containers[0].securityContext.privileged"},
		{"PodTemplate", "v1", "template", "template.spec.containers[0].securityContext.privileged"},
	}
	e := engine(t)
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			objs := decodeObjects(t, tt.kind+".json", podBearing(tt.kind, tt.apiVersion, tt.template, privileged))
			res := scan.New(e, 1).Scan(context.Background(), objs, nil).Results[0]
			if res.Error != "" {
				t.Fatal(res.Error)
			}
			var fields []string
			for _, v := range res.Violations {
				if v.Policy == "BLF-PSS-007" {
					fields = append(fields, v.Field)
				}
			}
			if !slices.Equal(fields, []string{tt.field}) {
				t.Errorf("BLF-PSS-007 fields = %q, want %q (violations %+v)", fields, tt.field, res.Violations)
			}
			if !res.Denied() {
				t.Errorf("a privileged container must be denied")
			}

			compliant := decodeObjects(t, tt.kind+".json", podBearing(tt.kind, tt.apiVersion, tt.template, podSpec(nil)))
			if res := scan.New(e, 1).Scan(context.Background(), compliant, nil).Results[0]; res.Error != "" || res.Denied() {
				t.Errorf("the same %s without the privileged container: error %q, violations %+v", tt.kind, res.Error, res.Violations)
			}
		})
	}
}

// TestNamespacesInTheInputDecideForTheirWorkloads scans a workload pinned to a region
// outside the personal data class, with and without its namespace labelled with that
// class, wherever the namespace is in the input.
func TestNamespacesInTheInputDecideForTheirWorkloads(t *testing.T) {
	spec := podSpec(nil)
	spec["nodeSelector"] = map[string]any{"topology.kubernetes.io/region": "us-east-1"}
	workload := podBearing("Deployment", "apps/v1", "spec.template", spec)
	workload["metadata"].(map[string]any)["namespace"] = "customers"
	namespace := map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": "customers", "labels": map[string]any{"bailiff.io/data-class": "personal"}},
	}
	otherNamespace := map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": "shop", "labels": map[string]any{"bailiff.io/data-class": "personal"}},
	}

	tests := []struct {
		name   string
		files  [][]map[string]any // each file's objects, in order
		denied bool
	}{
		{"without its namespace the workload passes", [][]map[string]any{{workload}}, false},
		{"another namespace's label does not apply", [][]map[string]any{{otherNamespace, workload}}, false},
		{"the namespace before the workload", [][]map[string]any{{namespace, workload}}, true},
		{"the namespace after the workload", [][]map[string]any{{workload, namespace}}, true},
		{"the namespace in an earlier file", [][]map[string]any{{namespace}, {workload}}, true},
		{"the namespace in a later file", [][]map[string]any{{workload}, {namespace}}, true},
	}
	e := engine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []manifest.Object
			for i, file := range tt.files {
				objs = append(objs, decodeObjects(t, fmt.Sprintf("%d.json", i), file...)...)
			}
			report := scan.New(e, 2).Scan(context.Background(), objs, nil)
			res := findResult(report, "web")
			if res.Error != "" {
				t.Fatal(res.Error)
			}
			pinned := false
			for _, v := range res.Violations {
				pinned = pinned || v.Policy == "BLF-GEO-001"
			}
			if res.Denied() != tt.denied || pinned != tt.denied {
				t.Errorf("denied = %v (BLF-GEO-001 reported: %v), want %v: %+v", res.Denied(), pinned, tt.denied, res.Violations)
			}
		})
	}
}
