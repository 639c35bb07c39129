// Package scan evaluates manifests offline with the same policies the webhook enforces:
// each object is mutated as admission would mutate it, then validated, and the results
// are rendered for people (table) and for CI systems (JSON, SARIF, JUnit).
package scan

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/manifest"
	"github.com/bailiff/bailiff/pkg/policy"
)

// UnscannedReason is what policies are told about images in an offline scan: there is
// no scanner, so no image has a result, and the report says so once.
const UnscannedReason = "offline"

// Result is what the policies said about one object.
type Result struct {
	Source     string                     `json:"source"`
	Kind       string                     `json:"kind"`
	Namespace  string                     `json:"namespace"`
	Name       string                     `json:"name"`
	Violations []policy.Violation         `json:"violations"`
	Patches    []policy.Patch             `json:"patches"`
	Exempted   []policy.ExemptedViolation `json:"exempted,omitempty"`
	Error      string                     `json:"error,omitempty"`
}

// Denied reports whether a violation of the object is enforced with deny.
func (r Result) Denied() bool { return r.count(policy.Deny) > 0 }

// Warned reports whether the object drew a warning.
func (r Result) Warned() bool { return r.count(policy.Warn) > 0 }

func (r Result) count(enforcement string) int {
	n := 0
	for _, v := range r.Violations {
		if v.Enforcement == enforcement {
			n++
		}
	}
	return n
}

// Summary counts the results.
type Summary struct {
	Objects int `json:"objects"`
	Denied  int `json:"denied"`
	Warned  int `json:"warned"`
	Passed  int `json:"passed"`
	Mutated int `json:"mutated"`
	Errors  int `json:"errors"`
}

// Report is a whole scan.
type Report struct {
	Results          []Result `json:"results"`
	Summary          Summary  `json:"summary"`
	Notes            []string `json:"notes,omitempty"`
	Errors           []string `json:"errors,omitempty"` // input that could not be read
	PolicySetVersion string   `json:"policySetVersion"`
}

// Scanner evaluates manifests.
type Scanner struct {
	engine  *policy.Engine
	workers int
}

// New returns a scanner that evaluates with engine on workers goroutines (0: one per CPU).
func New(engine *policy.Engine, workers int) *Scanner {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &Scanner{engine: engine, workers: workers}
}

// Scan evaluates every object. readErrs are the problems met reading the input; they
// are reported with the results.
func (s *Scanner) Scan(ctx context.Context, objs []manifest.Object, readErrs []error) *Report {
	set := s.engine.Set()
	env := gather(objs, set.Config().Cluster)
	report := &Report{Results: make([]Result, len(objs)), PolicySetVersion: set.Version()}
	for _, err := range readErrs {
		report.Errors = append(report.Errors, err.Error())
	}

	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(s.workers, max(len(objs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				report.Results[i] = s.evaluate(ctx, objs[i], env)
			}
		}()
	}
	for i := range objs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	for _, r := range report.Results {
		report.Summary.Objects++
		switch {
		case r.Error != "":
			report.Summary.Errors++
		case r.Denied():
			report.Summary.Denied++
		case r.Warned():
			report.Summary.Warned++
		default:
			report.Summary.Passed++
		}
		if len(r.Patches) > 0 {
			report.Summary.Mutated++
		}
	}
	report.Summary.Errors += len(readErrs)
	if env.sawImages {
		report.Notes = append(report.Notes, "images were not scanned for vulnerabilities: an offline scan reads manifests only (admission checks scan results)")
	}
	return report
}

// evaluate mutates an object as admission would, then validates the result.
func (s *Scanner) evaluate(ctx context.Context, obj manifest.Object, env *environment) Result {
	res := Result{Source: obj.Source(), Kind: obj.Kind(), Violations: []policy.Violation{}, Patches: []policy.Patch{}}
	fail := func(err error) Result {
		res.Error = err.Error()
		return res
	}
	req := input.ForValue(obj.Value)
	res.Namespace, res.Name = req.Namespace, req.Name
	in, err := input.New(req, env.contextFor(req))
	if err != nil {
		return fail(fmt.Errorf("build policy input: %w", err))
	}
	mutation, err := s.engine.Mutate(ctx, in)
	if err != nil {
		return fail(err)
	}
	if len(mutation.Patches) > 0 {
		res.Patches = mutation.Patches
		m, err := obj.Map()
		if err != nil {
			return fail(err)
		}
		patched, err := policy.ApplyPatches(m, mutation.Patches)
		if err != nil {
			return fail(fmt.Errorf("mutating policies produced a patch that does not apply: %w", err))
		}
		if req, err = input.ForObject(patched); err != nil {
			return fail(err)
		}
		if in, err = input.New(req, env.contextFor(req)); err != nil {
			return fail(fmt.Errorf("build policy input: %w", err))
		}
	}
	result, err := s.engine.Evaluate(ctx, in)
	if err != nil {
		return fail(err)
	}
	res.Violations = listed(result.Violations)
	for _, ex := range result.Exempted {
		ex.Violation.Controls = orEmpty(ex.Violation.Controls)
		res.Exempted = append(res.Exempted, ex)
	}
	return res
}

// listed copies violations with every list present, so that reports show an empty
// list as [] and never as null: the engine returns nil when nothing is violated, and a
// policy's metadata may name no controls.
func listed(vs []policy.Violation) []policy.Violation {
	out := make([]policy.Violation, len(vs))
	for i, v := range vs {
		v.Controls = orEmpty(v.Controls)
		out[i] = v
	}
	return out
}

// orEmpty is s, or an empty list when s is nil.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// environment is what the manifests themselves say about the cluster they go to.
type environment struct {
	cluster        input.Cluster
	namespaces     map[string]*input.Namespace
	storageClasses map[string]map[string]any
	sawImages      bool
	images         sync.Map // image reference -> input.Image: manifests repeat images
}

func gather(objs []manifest.Object, cluster config.Cluster) *environment {
	env := &environment{
		cluster:    input.Cluster{Name: cluster.Name, Region: cluster.Region, Labels: cluster.Labels},
		namespaces: map[string]*input.Namespace{},
	}
	for _, o := range objs {
		kind := o.Kind()
		if !env.sawImages && input.PodSpec(o.Value, kind) != nil {
			env.sawImages = true
		}
		name := input.LookupString(o.Value, "metadata", "name")
		switch kind {
		case "Namespace":
			env.namespaces[name] = &input.Namespace{
				Name:        name,
				Labels:      stringMap(input.Lookup(o.Value, "metadata", "labels")),
				Annotations: stringMap(input.Lookup(o.Value, "metadata", "annotations")),
			}
		case "StorageClass":
			m, err := o.Map()
			if err != nil {
				continue // cannot happen: every manifest object converts
			}
			if env.storageClasses == nil {
				env.storageClasses = map[string]map[string]any{}
			}
			env.storageClasses[name] = m
		}
	}
	return env
}

// contextFor builds input.context for one request.
func (env *environment) contextFor(req input.Request) input.Context {
	ctx := input.Context{
		Mode:           input.ModeScan,
		Cluster:        env.cluster,
		Namespace:      env.namespaces[req.Namespace],
		StorageClasses: env.storageClasses,
	}
	if refs := input.ContainerImages(req.Object, req.Kind.Kind); len(refs) > 0 {
		ctx.Images = make(map[string]input.Image, len(refs))
		for _, ref := range refs {
			img, ok := env.images.Load(ref)
			if !ok {
				img, _ = env.images.LoadOrStore(ref, images.Describe(ref, UnscannedReason))
			}
			ctx.Images[ref] = img.(input.Image)
		}
	}
	return ctx
}

// stringMap is an object's string values by key (labels, annotations); nil when v is
// not an object.
func stringMap(v ast.Value) map[string]string {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil
	}
	out := make(map[string]string, obj.Len())
	obj.Foreach(func(k, x *ast.Term) {
		key, kok := k.Value.(ast.String)
		s, sok := x.Value.(ast.String)
		if kok && sok {
			out[string(key)] = string(s)
		}
	})
	return out
}
