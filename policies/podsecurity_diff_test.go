package policies_test

// The podsecurity policies claim the verdicts of upstream Pod Security Admission
// (k8s.io/pod-security-admission, policy version "latest"). This file proves it: it runs
// upstream's checks and our Rego side by side on thousands of generated pods and on
// hand-written cases, and requires the same verdict and the same failing checks at every
// level.

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/bailiff/bailiff/policies"
	"github.com/bailiff/bailiff/test/podgen"
)

// levels are the Pod Security Standards levels, from least to most strict.
var levels = []psaapi.Level{psaapi.LevelPrivileged, psaapi.LevelBaseline, psaapi.LevelRestricted}

// checkSet is a set of upstream check ids.
type checkSet map[string]bool

func (s checkSet) String() string {
	ids := make([]string, 0, len(s))
	for id := range s {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return "[" + strings.Join(ids, " ") + "]"
}

func (s checkSet) equal(o checkSet) bool {
	if len(s) != len(o) {
		return false
	}
	for id := range s {
		if !o[id] {
			return false
		}
	}
	return true
}

// difference describes how got differs from want.
func difference(want, got checkSet) string {
	missing, extra := checkSet{}, checkSet{}
	for id := range want {
		if !got[id] {
			missing[id] = true
		}
	}
	for id := range got {
		if !want[id] {
			extra[id] = true
		}
	}
	return fmt.Sprintf("we miss %v, we add %v", missing, extra)
}

// --- upstream ------------------------------------------------------------------------

// upstream holds k8s.io/pod-security-admission's default checks at policy version latest.
type upstream struct {
	evaluator psapolicy.Evaluator
	ids       []string // in upstream's order: baseline ids sorted, then restricted ids sorted
	level     map[string]psaapi.Level
	check     map[string]psapolicy.CheckPodFn
	replaced  map[string]string // baseline check -> the restricted check that overrides it
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	checks := psapolicy.DefaultChecks()
	evaluator, err := psapolicy.NewEvaluator(checks, nil)
	if err != nil {
		t.Fatalf("upstream evaluator: %v", err)
	}
	u := &upstream{
		evaluator: evaluator,
		level:     map[string]psaapi.Level{},
		check:     map[string]psapolicy.CheckPodFn{},
		replaced:  map[string]string{},
	}
	var baseline, restricted []string
	for _, c := range checks {
		id := string(c.ID)
		latest := c.Versions[len(c.Versions)-1] // the version that applies to "latest"
		u.level[id] = c.Level
		u.check[id] = latest.CheckPod
		for _, o := range latest.OverrideCheckIDs {
			u.replaced[string(o)] = id
		}
		if c.Level == psaapi.LevelBaseline {
			baseline = append(baseline, id)
		} else {
			restricted = append(restricted, id)
		}
	}
	sort.Strings(baseline)
	sort.Strings(restricted)
	u.ids = append(baseline, restricted...)
	return u
}

// upstreamVerdict is what upstream decides about one pod.
type upstreamVerdict struct {
	failing checkSet                  // every check that fails when run on its own
	denied  map[psaapi.Level]checkSet // the failing checks the evaluator runs at each level
	reasons map[psaapi.Level]string   // the evaluator's own message at each level
	results map[string]psapolicy.CheckResult
}

// evaluate runs every check on its own and the real evaluator at each level, and fails
// when the two disagree: then this test's model of upstream, not our Rego, is wrong.
func (u *upstream) evaluate(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (upstreamVerdict, error) {
	v := upstreamVerdict{
		failing: checkSet{},
		denied:  map[psaapi.Level]checkSet{},
		reasons: map[psaapi.Level]string{},
		results: map[string]psapolicy.CheckResult{},
	}
	for _, id := range u.ids {
		r := u.check[id](meta, spec)
		v.results[id] = r
		if !r.Allowed {
			v.failing[id] = true
		}
	}
	for _, level := range levels {
		denied := checkSet{}
		var want []string
		for _, id := range u.ids {
			runs := level == psaapi.LevelRestricted && u.replaced[id] == "" ||
				level == psaapi.LevelBaseline && u.level[id] == psaapi.LevelBaseline
			if runs && v.failing[id] {
				denied[id] = true
				want = append(want, v.results[id].ForbiddenReason+" ("+v.results[id].ForbiddenDetail+")")
			}
		}
		agg := psapolicy.AggregateCheckResults(u.evaluator.EvaluatePod(
			psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}, meta, spec))
		var got []string
		for i := range agg.ForbiddenReasons {
			got = append(got, agg.ForbiddenReasons[i]+" ("+agg.ForbiddenDetails[i]+")")
		}
		if !slices.Equal(got, want) {
			return v, fmt.Errorf("level %s: upstream evaluator says %q, its checks one by one say %q", level, got, want)
		}
		v.denied[level] = denied
		v.reasons[level] = agg.ForbiddenDetail()
	}
	return v, nil
}

// --- our library -----------------------------------------------------------------------

// policyMeta is what a podsecurity policy's METADATA says about itself.
type policyMeta struct {
	Package string // "privileged"
	ID      string
	Check   string
	Level   string
	Custom  map[string]any
}

// library is the embedded policy library compiled into one prepared query that returns
// every podsecurity policy's violations at each level.
type library struct {
	query    rego.PreparedEvalQuery
	policies map[string]policyMeta // by package name
}

var (
	libraryOnce sync.Once
	libraryVal  *library
	libraryErr  error
)

// loadLibrary compiles policies.FS (data.yaml and every non-test module) once per run.
func loadLibrary(t *testing.T) *library {
	t.Helper()
	libraryOnce.Do(func() { libraryVal, libraryErr = newLibrary() })
	if libraryErr != nil {
		t.Fatalf("compile the policy library: %v", libraryErr)
	}
	return libraryVal
}

// libraryDirs are the folders of policies.FS the podsecurity family needs. Other families
// are left out so that their work in progress cannot fail this test.
var libraryDirs = []string{"lib", "podsecurity"}

// libraryFiles reads data.yaml and the non-test modules of libraryDirs from policies.FS.
func libraryFiles() (data map[string]any, modules map[string]string, err error) {
	raw, err := fs.ReadFile(policies.FS, policies.DefaultConfigFile)
	if err != nil {
		return nil, nil, err
	}
	if err := yaml.Unmarshal(raw, &data); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", policies.DefaultConfigFile, err)
	}
	modules = map[string]string{}
	for _, dir := range libraryDirs {
		files, err := fs.Glob(policies.FS, dir+"/*.rego")
		if err != nil {
			return nil, nil, err
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.rego") {
				continue
			}
			src, err := fs.ReadFile(policies.FS, name)
			if err != nil {
				return nil, nil, err
			}
			modules[name] = string(src)
		}
	}
	return data, modules, nil
}

// compileLibrary prepares query over the library, with data.yaml as the store.
func compileLibrary(query string) (rego.PreparedEvalQuery, map[string]string, error) {
	data, modules, err := libraryFiles()
	if err != nil {
		return rego.PreparedEvalQuery{}, nil, err
	}
	opts := []func(*rego.Rego){rego.Store(inmem.NewFromObject(data)), rego.Query(query)}
	for name, src := range modules {
		opts = append(opts, rego.Module(name, src))
	}
	prepared, err := rego.New(opts...).PrepareForEval(context.Background())
	return prepared, modules, err
}

// newLibrary compiles the query that returns every podsecurity policy's violations at
// each level, and reads each policy's METADATA.
func newLibrary() (*library, error) {
	query, modules, err := compileLibrary(`
		privileged := {name: vs | vs := data.bailiff.podsecurity[name].violation} with data.bailiff.config.podSecurity.level as "privileged"
		baseline := {name: vs | vs := data.bailiff.podsecurity[name].violation} with data.bailiff.config.podSecurity.level as "baseline"
		restricted := {name: vs | vs := data.bailiff.podsecurity[name].violation} with data.bailiff.config.podSecurity.level as "restricted"
	`)
	if err != nil {
		return nil, err
	}
	lib := &library{query: query, policies: map[string]policyMeta{}}
	for name, src := range modules {
		if !strings.HasPrefix(name, "podsecurity/") {
			continue
		}
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{ProcessAnnotation: true})
		if err != nil {
			return nil, err
		}
		meta, err := readPolicyMeta(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		lib.policies[meta.Package] = meta
	}
	return lib, nil
}

func readPolicyMeta(m *ast.Module) (policyMeta, error) {
	path := m.Package.Path.String() // data.bailiff.podsecurity.privileged
	meta := policyMeta{Package: path[strings.LastIndex(path, ".")+1:]}
	for _, a := range m.Annotations {
		if a.Scope != "package" {
			continue
		}
		meta.Custom = a.Custom
		meta.ID, _ = a.Custom["id"].(string)
		pss, _ := a.Custom["pss"].(map[string]any)
		meta.Check, _ = pss["check"].(string)
		meta.Level, _ = pss["level"].(string)
	}
	if meta.ID == "" || meta.Check == "" || meta.Level == "" {
		return meta, fmt.Errorf("package %s: METADATA lacks custom.id or custom.pss {level, check}", path)
	}
	return meta, nil
}

// violation is one element of a policy's violation set.
type violation struct {
	Msg         string         `json:"msg"`
	Field       string         `json:"field"`
	Enforcement string         `json:"enforcement"`
	Details     map[string]any `json:"details"`
}

// ourVerdict maps each level to each failing check to its violations.
type ourVerdict map[psaapi.Level]map[string][]violation

// denied lists the checks with a violation that is enforced (no "audit").
func (v ourVerdict) denied(level psaapi.Level) checkSet {
	s := checkSet{}
	for check, vs := range v[level] {
		for _, x := range vs {
			if x.Enforcement == "" {
				s[check] = true
			}
		}
	}
	return s
}

// failing lists the checks with any violation.
func (v ourVerdict) failing(level psaapi.Level) checkSet {
	s := checkSet{}
	for check := range v[level] {
		s[check] = true
	}
	return s
}

// evaluate runs every podsecurity policy on input, at each level.
func (l *library) evaluate(ctx context.Context, input map[string]any) (ourVerdict, error) {
	rs, err := l.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("query returned %d results, want 1", len(rs))
	}
	out := ourVerdict{}
	for _, level := range levels {
		raw, err := json.Marshal(rs[0].Bindings[string(level)])
		if err != nil {
			return nil, err
		}
		var byPackage map[string][]violation
		if err := json.Unmarshal(raw, &byPackage); err != nil {
			return nil, err
		}
		out[level] = map[string][]violation{}
		for pkg, vs := range byPackage {
			meta, ok := l.policies[pkg]
			if !ok {
				return nil, fmt.Errorf("package bailiff.podsecurity.%s has no METADATA this test read", pkg)
			}
			if len(vs) > 0 {
				out[level][meta.Check] = vs
			}
		}
	}
	return out, nil
}

// --- inputs ---------------------------------------------------------------------------

// objectMap turns any Kubernetes object into the JSON-shaped map the policies receive.
func objectMap(obj any) (map[string]any, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(raw, &m)
}

// admission builds the policy input for an object of the given kind.
func admission(group, kind string, object map[string]any) map[string]any {
	return map[string]any{
		"request": map[string]any{
			"kind":      map[string]any{"group": group, "version": "v1", "kind": kind},
			"object":    object,
			"operation": "CREATE",
		},
		"context": map[string]any{"mode": "scan"},
	}
}

// --- comparison -----------------------------------------------------------------------

// comparison runs upstream and our library on one pod given as JSON.
type comparison struct {
	up  *upstream
	lib *library
}

// compare returns every disagreement between upstream and our policies on podJSON, plus
// both verdicts. The pod is decoded as the API server would (nulls become unset).
func (c comparison) compare(ctx context.Context, podJSON []byte) ([]string, upstreamVerdict, ourVerdict, error) {
	var pod corev1.Pod
	if err := json.Unmarshal(podJSON, &pod); err != nil {
		return nil, upstreamVerdict{}, nil, fmt.Errorf("decode pod: %w", err)
	}
	var object map[string]any
	if err := json.Unmarshal(podJSON, &object); err != nil {
		return nil, upstreamVerdict{}, nil, err
	}
	want, err := c.up.evaluate(&pod.ObjectMeta, &pod.Spec)
	if err != nil {
		return nil, want, nil, err
	}
	input := admission("", "Pod", object)
	got, err := c.lib.evaluate(ctx, input)
	if err != nil {
		return nil, want, nil, err
	}
	var problems []string
	for _, level := range levels {
		if d := got.denied(level); !d.equal(want.denied[level]) {
			problems = append(problems, fmt.Sprintf("level %s: upstream allowed=%t, we allowed=%t; enforced checks %s; upstream says: %s",
				level, len(want.denied[level]) == 0, len(d) == 0, difference(want.denied[level], d), want.reasons[level]))
		}
		if f := got.failing(level); !f.equal(want.failing) {
			problems = append(problems, fmt.Sprintf("level %s: failing checks (enforced or audit) %s", level, difference(want.failing, f)))
		}
		problems = append(problems, wellFormed(level, got[level], object)...)
	}
	return problems, want, got, nil
}

// wellFormed checks the shape of our violations: a message, an enforcement that is unset
// or "audit", and a field path that points into the object (every index and annotation
// key in it exists).
func wellFormed(level psaapi.Level, byCheck map[string][]violation, object map[string]any) []string {
	var problems []string
	for check, vs := range byCheck {
		for _, v := range vs {
			switch {
			case v.Msg == "":
				problems = append(problems, fmt.Sprintf("level %s: %s: violation without a message: %+v", level, check, v))
			case v.Enforcement != "" && v.Enforcement != "audit":
				problems = append(problems, fmt.Sprintf("level %s: %s: enforcement %q", level, check, v.Enforcement))
			}
			if err := resolves(object, v.Field); err != nil {
				problems = append(problems, fmt.Sprintf("level %s: %s: field %q: %v", level, check, v.Field, err))
			}
		}
	}
	return problems
}

// resolves walks a field path such as spec.containers[0].securityContext.privileged or
// metadata.annotations["k"] through obj. The path may end in fields that are unset (a
// field that must be set), but every index and quoted key in it must exist.
func resolves(obj any, path string) error {
	if path == "" {
		return fmt.Errorf("empty field")
	}
	cur, present := obj, true
	for rest := path; rest != ""; {
		var key any
		switch {
		case strings.HasPrefix(rest, `["`):
			end := strings.Index(rest, `"]`)
			if end < 0 {
				return fmt.Errorf("unterminated key")
			}
			k, err := strconv.Unquote(rest[1 : end+1])
			if err != nil {
				return err
			}
			key, rest = k, rest[end+2:]
		case strings.HasPrefix(rest, "["):
			end := strings.Index(rest, "]")
			i, err := strconv.Atoi(rest[1:end])
			if err != nil {
				return err
			}
			key, rest = i, rest[end+1:]
		default:
			rest = strings.TrimPrefix(rest, ".")
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			key, rest = rest[:end], rest[end:]
			if !present {
				continue // a field under an unset one: fine
			}
			m, _ := cur.(map[string]any)
			cur, present = m[key.(string)]
			present = present && cur != nil
			continue
		}
		if !present {
			return fmt.Errorf("%v is under an unset field", key)
		}
		switch k := key.(type) {
		case int:
			list, _ := cur.([]any)
			if k < 0 || k >= len(list) {
				return fmt.Errorf("index %d out of range", k)
			}
			cur = list[k]
		case string:
			m, _ := cur.(map[string]any)
			v, ok := m[k]
			if !ok {
				return fmt.Errorf("key %q does not exist", k)
			}
			cur = v
		}
	}
	return nil
}

// --- tests ----------------------------------------------------------------------------

// TestPodSecurityPoliciesMatchUpstreamChecks holds the METADATA to upstream's registry:
// one policy per default check, the same level, ids in upstream's order.
func TestPodSecurityPoliciesMatchUpstreamChecks(t *testing.T) {
	up := newUpstream(t)
	lib := loadLibrary(t)

	byCheck := map[string]policyMeta{}
	for _, m := range lib.policies {
		if prev, dup := byCheck[m.Check]; dup {
			t.Errorf("check %s is implemented twice: %s and %s", m.Check, prev.Package, m.Package)
		}
		byCheck[m.Check] = m
	}
	if len(byCheck) != len(up.ids) {
		t.Errorf("%d podsecurity policies, upstream has %d checks %v", len(byCheck), len(up.ids), up.ids)
	}
	for i, id := range up.ids {
		m, ok := byCheck[id]
		if !ok {
			t.Errorf("no policy implements upstream check %s", id)
			continue
		}
		if want := fmt.Sprintf("BLF-PSS-%03d", i+1); m.ID != want {
			t.Errorf("%s (check %s) has id %s, want %s (upstream order)", m.Package, id, m.ID, want)
		}
		if m.Level != string(up.level[id]) {
			t.Errorf("%s says check %s is %s, upstream says %s", m.Package, id, m.Level, up.level[id])
		}
		controls := fmt.Sprint(m.Custom["controls"])
		for _, want := range []string{"PSS-" + string(up.level[id]), "NSA-Pod-Security"} {
			if !strings.Contains(controls, want) {
				t.Errorf("%s: controls %s lack %s", m.Package, controls, want)
			}
		}
		if fmt.Sprint(m.Custom["kinds"]) != "[workloads]" || m.Custom["enforcement"] != "deny" {
			t.Errorf("%s: kinds %v, enforcement %v; want [workloads], deny", m.Package, m.Custom["kinds"], m.Custom["enforcement"])
		}
	}
	if exp := psapolicy.ExperimentalChecks(); len(exp) > 0 {
		t.Logf("upstream also has %d experimental checks, which no level runs yet", len(exp))
	}
}

// TestPodSecurityMatchesUpstreamOnGeneratedPods is the differential test.
func TestPodSecurityMatchesUpstreamOnGeneratedPods(t *testing.T) {
	const pods = 4000
	cmp := comparison{up: newUpstream(t), lib: loadLibrary(t)}
	ctx := context.Background()

	g := podgen.New(rand.New(rand.NewPCG(20260901, 36)))
	generated := make([]*corev1.Pod, pods)
	for i := range generated {
		generated[i] = g.Pod(i)
	}

	type outcome struct {
		problems []string
		verdict  upstreamVerdict
	}
	outcomes := make([]outcome, pods)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pod := generated[i]
				raw, err := json.Marshal(pod)
				if err != nil {
					outcomes[i].problems = []string{err.Error()}
					continue
				}
				problems, verdict, ours, err := cmp.compare(ctx, raw)
				if err != nil {
					problems = append(problems, err.Error())
				}
				if i%10 == 0 && err == nil {
					problems = append(problems, cmp.sameOnTemplate(ctx, ours, "apps", podgen.AsDeployment(pod), "spec.template.")...)
				}
				if i%40 == 0 && err == nil {
					problems = append(problems, cmp.sameOnTemplate(ctx, ours, "batch", podgen.AsCronJob(pod), "spec.jobTemplate.spec.template.")...)
				}
				outcomes[i] = outcome{problems, verdict}
			}
		}()
	}
	for i := range pods {
		next <- i
	}
	close(next)
	wg.Wait()

	// Report.
	mismatched := 0
	allowed := map[psaapi.Level]int{}
	fails := map[string]int{}
	alone := map[string]int{}
	baselineOnly := 0
	for i, o := range outcomes {
		if len(o.problems) > 0 {
			mismatched++
			if mismatched <= 5 {
				y, _ := yaml.Marshal(generated[i])
				t.Errorf("pod %d disagrees with upstream:\n  %s\n---\n%s", i, strings.Join(o.problems, "\n  "), y)
			}
			continue
		}
		for _, level := range levels {
			if len(o.verdict.denied[level]) == 0 {
				allowed[level]++
			}
		}
		for id := range o.verdict.failing {
			fails[id]++
			if isolated(cmp.up, o.verdict.failing, id) {
				alone[id]++
			}
		}
		if len(o.verdict.denied[psaapi.LevelBaseline]) > 0 && len(o.verdict.denied[psaapi.LevelRestricted]) == 0 {
			baselineOnly++
		}
	}
	if mismatched > 0 {
		t.Fatalf("%d of %d pods disagree with upstream (first 5 shown)", mismatched, pods)
	}
	t.Logf("%d pods, 0 mismatches; allowed at privileged/baseline/restricted: %d/%d/%d; denied by baseline but allowed by restricted: %d",
		pods, allowed[psaapi.LevelPrivileged], allowed[psaapi.LevelBaseline], allowed[psaapi.LevelRestricted], baselineOnly)

	// The comparison proves little unless the pods exercise every check both ways, and
	// each check on its own too.
	for _, id := range cmp.up.ids {
		t.Logf("  %-28s fails in %4d pods, failing alone (or with its override) in %3d", id, fails[id], alone[id])
		if fails[id] < 50 || alone[id] < 3 || pods-fails[id] < 50 {
			t.Errorf("check %s: fails in %d pods, alone in %d: the generator does not exercise it enough", id, fails[id], alone[id])
		}
	}
	for _, level := range levels[1:] {
		if allowed[level] < pods/20 || pods-allowed[level] < pods/20 {
			t.Errorf("level %s allows %d of %d pods: the generator needs more of both kinds", level, allowed[level], pods)
		}
	}
}

// isolated reports whether id is the only failing check, not counting the check it
// overrides or is overridden by (hostPathVolumes cannot fail without restrictedVolumes,
// for instance).
func isolated(up *upstream, failing checkSet, id string) bool {
	for other := range failing {
		if other != id && up.replaced[other] != id && up.replaced[id] != other {
			return false
		}
	}
	return true
}

// sameOnTemplate evaluates a pod wrapped in another kind and requires the violations the
// bare pod had (asPod), with field paths under the template.
func (c comparison) sameOnTemplate(ctx context.Context, asPod ourVerdict, group string, wrapped any, prefix string) []string {
	obj, err := objectMap(wrapped)
	if err != nil {
		return []string{err.Error()}
	}
	kind, _ := obj["kind"].(string)
	got, err := c.lib.evaluate(ctx, admission(group, kind, obj))
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, level := range levels {
		want := map[string]bool{}
		for check, vs := range asPod[level] {
			for _, v := range vs {
				v.Field = prefix + v.Field
				want[check+"|"+canonical(v)] = true
			}
		}
		have := map[string]bool{}
		for check, vs := range got[level] {
			for _, v := range vs {
				have[check+"|"+canonical(v)] = true
				if err := resolves(obj, v.Field); err != nil {
					problems = append(problems, fmt.Sprintf("%s, level %s: field %q: %v", kind, level, v.Field, err))
				}
			}
		}
		for k := range want {
			if !have[k] {
				problems = append(problems, fmt.Sprintf("%s, level %s: missing %s", kind, level, k))
			}
		}
		for k := range have {
			if !want[k] {
				problems = append(problems, fmt.Sprintf("%s, level %s: unexpected %s", kind, level, k))
			}
		}
	}
	return problems
}

func canonical(v violation) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// TestPodSecurityCases pins upstream's behaviour on hand-written pods, one or more per
// check, including the surprising ones, and requires our policies to agree. The pods are
// YAML, so they can carry explicit nulls and fields as an API client writes them.
func TestPodSecurityCases(t *testing.T) {
	cmp := comparison{up: newUpstream(t), lib: loadLibrary(t)}
	for _, tc := range podSecurityCases {
		t.Run(tc.name, func(t *testing.T) {
			podJSON, err := yaml.YAMLToJSON([]byte(podYAML(tc.spec, tc.annotations)))
			if err != nil {
				t.Fatalf("case YAML: %v", err)
			}
			problems, verdict, _, err := cmp.compare(context.Background(), podJSON)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("disagrees with upstream: %s", p)
			}
			want := checkSet{}
			for _, id := range tc.fails {
				want[id] = true
			}
			if !verdict.failing.equal(want) {
				t.Errorf("upstream's failing checks are %v, the case expects %v", verdict.failing, want)
			}
			for level, allowed := range map[psaapi.Level]bool{psaapi.LevelBaseline: tc.baselineAllows, psaapi.LevelRestricted: tc.restrictedAllows} {
				if got := len(verdict.denied[level]) == 0; got != allowed {
					t.Errorf("upstream at %s: allowed=%t, the case expects %t (%s)", level, got, allowed, verdict.reasons[level])
				}
			}
			if t.Failed() {
				t.Logf("pod:\n%s", podJSON)
			}
		})
	}
}

// podYAML builds a pod manifest from its spec and annotations, given as YAML.
func podYAML(spec, annotations string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Pod\nmetadata:\n  name: case\n")
	if annotations != "" {
		b.WriteString("  annotations:\n")
		for _, line := range strings.Split(strings.TrimSpace(annotations), "\n") {
			b.WriteString("    " + line + "\n")
		}
	}
	b.WriteString("spec:\n")
	for _, line := range strings.Split(strings.Trim(spec, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

// restrictedContainer is a container that passes every restricted check.
const restrictedContainer = `
  securityContext:
    allowPrivilegeEscalation: false
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
    capabilities: {drop: [ALL]}`

var podSecurityCases = []struct {
	name                             string
	spec, annotations                string
	fails                            []string // upstream checks that fail on their own
	baselineAllows, restrictedAllows bool
}{
	{
		name:           "a restricted pod passes everything",
		spec:           "containers:\n- name: app" + restrictedContainer,
		baselineAllows: true, restrictedAllows: true,
	},
	{
		name:           "a bare pod passes baseline and fails the restricted checks that need a setting",
		spec:           "containers:\n- name: app",
		fails:          []string{"allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot", "seccompProfile_restricted"},
		baselineAllows: true,
	},
	{
		name:  "hostNetwork, hostPID and hostIPC",
		spec:  "hostNetwork: true\nhostPID: true\nhostIPC: false\ncontainers:\n- name: app" + restrictedContainer,
		fails: []string{"hostNamespaces"},
	},
	{
		name:  "a privileged ephemeral container",
		spec:  "containers:\n- name: app" + restrictedContainer + "\nephemeralContainers:\n- name: debug\n  targetContainerName: app" + strings.Replace(restrictedContainer, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: false\n    privileged: true", 1),
		fails: []string{"privileged"},
	},
	{
		name:           "privileged: false and explicit nulls are fine",
		spec:           "securityContext: null\ncontainers:\n- name: app\n  securityContext:\n    privileged: false\n    allowPrivilegeEscalation: false\n    runAsNonRoot: true\n    runAsUser: null\n    procMount: null\n    seccompProfile: {type: Localhost, localhostProfile: p.json}\n    appArmorProfile: null\n    capabilities: {drop: [ALL], add: null}",
		baselineAllows: true, restrictedAllows: true,
	},
	{
		name:  "an init container adds NET_RAW",
		spec:  "containers:\n- name: app" + restrictedContainer + "\ninitContainers:\n- name: setup\n  securityContext:\n    allowPrivilegeEscalation: false\n    runAsNonRoot: true\n    seccompProfile: {type: RuntimeDefault}\n    capabilities: {drop: [ALL], add: [NET_RAW]}",
		fails: []string{"capabilities_baseline", "capabilities_restricted"},
	},
	{
		name:           "a default capability passes baseline but not restricted",
		spec:           "containers:\n- name: app\n  securityContext:\n    allowPrivilegeEscalation: false\n    runAsNonRoot: true\n    seccompProfile: {type: RuntimeDefault}\n    capabilities: {drop: [ALL], add: [CHOWN, NET_BIND_SERVICE]}",
		fails:          []string{"capabilities_restricted"},
		baselineAllows: true,
	},
	{
		name:  "capability names are case-sensitive and take no CAP_ prefix",
		spec:  "containers:\n- name: app\n  securityContext:\n    allowPrivilegeEscalation: false\n    runAsNonRoot: true\n    seccompProfile: {type: RuntimeDefault}\n    capabilities: {drop: [all], add: [CAP_CHOWN, '']}",
		fails: []string{"capabilities_baseline", "capabilities_restricted"},
	},
	{
		name:             "a Windows pod may add capabilities at restricted, not at baseline",
		spec:             "os: {name: windows}\nsecurityContext: {runAsNonRoot: true}\ncontainers:\n- name: app\n  securityContext:\n    capabilities: {add: [SYS_ADMIN]}",
		fails:            []string{"capabilities_baseline"},
		restrictedAllows: true,
	},
	{
		name:           "os.name is case-sensitive: Windows is not windows",
		spec:           "os: {name: Windows}\nsecurityContext: {runAsNonRoot: true}\ncontainers:\n- name: app",
		fails:          []string{"allowPrivilegeEscalation", "capabilities_restricted", "seccompProfile_restricted"},
		baselineAllows: true,
	},
	{
		name:  "a hostPath volume",
		spec:  "volumes:\n- name: docker\n  hostPath: {path: /var/run/docker.sock}\ncontainers:\n- name: app" + restrictedContainer,
		fails: []string{"hostPathVolumes", "restrictedVolumes"},
	},
	{
		name:             "a volume with hostPath and configMap passes restricted but not baseline",
		spec:             "volumes:\n- name: both\n  hostPath: {path: /}\n  configMap: {name: cm}\ncontainers:\n- name: app" + restrictedContainer,
		fails:            []string{"hostPathVolumes"},
		restrictedAllows: true,
	},
	{
		name:           "nfs and a volume without a source fail restricted only",
		spec:           "volumes:\n- name: share\n  nfs: {server: nfs.example.com, path: /}\n- name: nothing\n- name: cache\n  emptyDir: {}\ncontainers:\n- name: app" + restrictedContainer,
		fails:          []string{"restrictedVolumes"},
		baselineAllows: true,
	},
	{
		name:  "a host port on an ephemeral container",
		spec:  "containers:\n- name: app" + restrictedContainer + "\n  ports: [{containerPort: 80, hostPort: 0}]\nephemeralContainers:\n- name: debug" + restrictedContainer + "\n  ports: [{containerPort: 80, hostPort: 8080}]",
		fails: []string{"hostPorts"},
	},
	{
		name:  "a probe host on an init container and a deprecated tcpSocket lifecycle host",
		spec:  "containers:\n- name: app" + restrictedContainer + "\n  lifecycle:\n    preStop: {tcpSocket: {port: 80, host: 10.0.0.1}}\ninitContainers:\n- name: setup" + restrictedContainer + "\n  startupProbe: {httpGet: {port: 80, host: metadata.internal}}",
		fails: []string{"hostProbesAndHostLifecycle"},
	},
	{
		name:           "an empty probe host is fine",
		spec:           "containers:\n- name: app" + restrictedContainer + "\n  livenessProbe: {httpGet: {port: 80, host: ''}}\n  readinessProbe: {grpc: {port: 9090}}",
		baselineAllows: true, restrictedAllows: true,
	},
	{
		name:  "an Unconfined AppArmor profile on the pod, and one without a type",
		spec:  "securityContext: {appArmorProfile: {type: Unconfined}}\ncontainers:\n- name: app" + restrictedContainer + "\n    appArmorProfile: {}",
		fails: []string{"appArmorProfile"},
	},
	{
		name:        "an AppArmor annotation is read, even for a container that does not exist",
		spec:        "containers:\n- name: app" + restrictedContainer,
		annotations: "container.apparmor.security.beta.kubernetes.io/ghost: unconfined\ncontainer.apparmor.security.beta.kubernetes.io/app: localhost/k8s-web",
		fails:       []string{"appArmorProfile"},
	},
	{
		name:           "the legacy seccomp annotations are no longer read",
		spec:           "containers:\n- name: app" + restrictedContainer,
		annotations:    "seccomp.security.alpha.kubernetes.io/pod: unconfined\ncontainer.seccomp.security.alpha.kubernetes.io/app: unconfined",
		baselineAllows: true, restrictedAllows: true,
	},
	{
		name:  "SELinux: a custom type, user and role",
		spec:  "securityContext: {seLinuxOptions: {type: spc_t}}\ncontainers:\n- name: app" + restrictedContainer + "\n    seLinuxOptions: {user: system_u, role: system_r}",
		fails: []string{"seLinuxOptions"},
	},
	{
		name:           "SELinux: container_engine_t and a level are fine",
		spec:           "securityContext: {seLinuxOptions: {type: container_engine_t, level: 's0:c1,c2'}}\ncontainers:\n- name: app" + restrictedContainer,
		baselineAllows: true, restrictedAllows: true,
	},
	{
		name:  "procMount Unmasked",
		spec:  "containers:\n- name: app" + restrictedContainer + "\n    procMount: Unmasked",
		fails: []string{"procMount", "procMount_restricted"},
	},
	{
		name:           "procMount Unmasked in a user namespace passes baseline, not restricted",
		spec:           "hostUsers: false\ncontainers:\n- name: app" + restrictedContainer + "\n    procMount: Unmasked",
		fails:          []string{"procMount_restricted"},
		baselineAllows: true,
	},
	{
		name:  "an empty procMount is not Default",
		spec:  "containers:\n- name: app" + restrictedContainer + "\n    procMount: ''",
		fails: []string{"procMount", "procMount_restricted"},
	},
	{
		name:  "seccomp Unconfined on a container",
		spec:  "securityContext: {seccompProfile: {type: RuntimeDefault}}\ncontainers:\n- name: app" + strings.Replace(restrictedContainer, "RuntimeDefault", "Unconfined", 1),
		fails: []string{"seccompProfile_baseline", "seccompProfile_restricted"},
	},
	{
		name:             "a Windows pod with seccomp Unconfined passes restricted, not baseline",
		spec:             "os: {name: windows}\nsecurityContext: {runAsNonRoot: true, seccompProfile: {type: Unconfined}}\ncontainers:\n- name: app",
		fails:            []string{"seccompProfile_baseline"},
		restrictedAllows: true,
	},
	{
		name:           "a pod-level seccomp profile covers containers that set none",
		spec:           "securityContext: {seccompProfile: {type: RuntimeDefault}, runAsNonRoot: true}\ncontainers:\n- name: app\n  securityContext:\n    allowPrivilegeEscalation: false\n    capabilities: {drop: [ALL]}\n    seccompProfile: null",
		baselineAllows: true, restrictedAllows: true,
	},
	{
		name:  "sysctls: unsafe, empty and slash-separated names",
		spec:  "securityContext:\n  sysctls:\n  - {name: net.ipv4.tcp_syncookies, value: '1'}\n  - {name: net.ipv4.ip_forward, value: '1'}\n  - {name: net/ipv4/tcp_wmem, value: '1'}\ncontainers:\n- name: app" + restrictedContainer,
		fails: []string{"sysctls"},
	},
	{
		name:  "a Windows HostProcess pod",
		spec:  "os: {name: windows}\nsecurityContext: {runAsNonRoot: true, windowsOptions: {hostProcess: true}}\ncontainers:\n- name: app",
		fails: []string{"windowsHostProcess"},
	},
	{
		name:           "allowPrivilegeEscalation true on an init container",
		spec:           "containers:\n- name: app" + restrictedContainer + "\ninitContainers:\n- name: setup" + strings.Replace(restrictedContainer, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", 1),
		fails:          []string{"allowPrivilegeEscalation"},
		baselineAllows: true,
	},
	{
		name:           "runAsNonRoot: the pod says true, a container says false",
		spec:           "securityContext: {runAsNonRoot: true}\ncontainers:\n- name: app" + strings.Replace(restrictedContainer, "runAsNonRoot: true", "runAsNonRoot: false", 1),
		fails:          []string{"runAsNonRoot"},
		baselineAllows: true,
	},
	{
		name:           "runAsNonRoot: the pod says false, every container says true",
		spec:           "securityContext: {runAsNonRoot: false}\ncontainers:\n- name: app" + restrictedContainer,
		fails:          []string{"runAsNonRoot"},
		baselineAllows: true,
	},
	{
		name:           "runAsNonRoot and runAsUser 0 are allowed in a user namespace",
		spec:           "hostUsers: false\nsecurityContext: {runAsUser: 0}\ncontainers:\n- name: app\n  securityContext:\n    allowPrivilegeEscalation: false\n    runAsNonRoot: false\n    runAsUser: 0\n    seccompProfile: {type: RuntimeDefault}\n    capabilities: {drop: [ALL]}",
		baselineAllows: true, restrictedAllows: true,
	},
	{
		name:           "runAsUser 0 on the pod fails even when every container overrides it",
		spec:           "securityContext: {runAsUser: 0}\ncontainers:\n- name: app" + restrictedContainer + "\n    runAsUser: 1000",
		fails:          []string{"runAsUser"},
		baselineAllows: true,
	},
}

// TestPodSecurityDefaultLevelIsBaseline: with data.yaml as it is, baseline is enforced and
// the restricted checks are recorded as audit.
func TestPodSecurityDefaultLevelIsBaseline(t *testing.T) {
	q, _, err := compileLibrary(`v := data.bailiff.podsecurity.run_as_non_root.violation`)
	if err != nil {
		t.Fatal(err)
	}
	pod, err := objectMap(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := q.Eval(context.Background(), rego.EvalInput(admission("", "Pod", pod)))
	if err != nil || len(rs) != 1 {
		t.Fatalf("eval: %v %v", rs, err)
	}
	raw, _ := json.Marshal(rs[0].Bindings["v"])
	var vs []violation
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Enforcement != "audit" {
		t.Errorf("runAsNonRoot under the default config (baseline): %+v, want one audit violation", vs)
	}
}
