package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"golang.org/x/sync/errgroup"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy/ireval"
)

// Set is one compiled, immutable policy set with its configuration. The engine swaps
// whole sets; a Set is never changed after it is built.
type Set struct {
	version  string
	policies []*Metadata // sorted by id
	byID     map[string]*Metadata
	cfg      *config.Config

	// queries holds one prepared query per (kind, operation) for the kinds policies
	// name; otherKinds one per operation for every other kind (policies with kinds: [*]).
	validate, mutate           map[queryKey]*query
	otherValidate, otherMutate map[string]*query
	namedKinds                 map[string]bool
	restrict                   *Restriction // nil: every kind and operation prepared
}

type queryKey struct{ kind, operation string }

// query is one prepared query evaluating several policies at once. Binding vars[i]
// holds the result of policies[i]; when vars[i] is "", the policy is in the combined
// rule, whose set of [i, item] pairs is bound to "combined".
type query struct {
	prepared rego.PreparedEvalQuery
	policies []*Metadata
	vars     []string
}

// buildOptions are what a Set is built from.
type buildOptions struct {
	sources  []Source
	cfg      *config.Config
	runTests bool
	// literal evaluates the policies as written: no constant folding, no combined
	// violation rules (see compileForEval). Tests compare the two.
	literal   bool
	evaluator Evaluator
	restrict  *Restriction
}

// buildSet parses, checks, compiles and (optionally) tests a policy set. Every problem
// is reported with file:row:col; nothing is half-built.
func buildSet(ctx context.Context, opts buildOptions) (*Set, error) {
	mods, err := readModules(opts.sources, opts.runTests) // tests are parsed only to be run
	if err != nil {
		return nil, err
	}
	var problems []string
	set := &Set{byID: map[string]*Metadata{}, cfg: opts.cfg, restrict: opts.restrict}
	policyModules := map[string]*ast.Module{}
	allModules := map[string]*ast.Module{}
	packages := map[string]string{}
	for _, m := range mods {
		allModules[m.file] = m.parsed
		if m.test {
			continue
		}
		policyModules[m.file] = m.parsed
		md, err := metadataOf(m.file, m.parsed)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if md == nil {
			continue
		}
		if other, dup := packages[md.Package]; dup {
			problems = append(problems, fmt.Sprintf("%s: package %s is also declared in %s: one policy per package", m.file, md.Package, other))
			continue
		}
		packages[md.Package] = m.file
		if other, dup := set.byID[md.ID]; dup {
			problems = append(problems, fmt.Sprintf("%s: policy id %s is already used by %s", m.file, md.ID, other.File))
			continue
		}
		set.byID[md.ID] = md
		set.policies = append(set.policies, md)
	}
	problems = append(problems, checkConfigAgainstPolicies(opts.cfg, set.byID)...)
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems}
	}
	sort.Slice(set.policies, func(i, j int) bool { return set.policies[i].ID < set.policies[j].ID })

	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(policyModules); compiler.Failed() {
		return nil, &LoadError{Problems: formatErrors(compiler.Errors)}
	}
	if opts.runTests {
		if err := runTests(ctx, allModules); err != nil {
			return nil, err
		}
	}

	cfgValue, err := configData(opts.cfg)
	if err != nil {
		return nil, err
	}
	store := inmem.NewFromObjectWithOpts(map[string]any{"bailiff": map[string]any{"config": cfgValue}}, inmem.OptRoundTripOnWrite(false))
	if err := set.prepare(ctx, compiler, policyModules, store, opts.literal, opts.evaluator); err != nil {
		return nil, err
	}
	set.version = versionOf(mods, cfgValue)
	return set, nil
}

// compileForEval compiles the policies that queries evaluate, for queries that each
// validate one group of policy packages. The checked modules are changed in two ways
// that keep every result as written and make evaluation cheaper: rules that depend only
// on the configuration are folded into their values (foldConstants), and each group's
// violation rules are combined into one rule in a generated package
// (combineViolations). The i-th group's combined rule, if any, is at paths[i], and
// combined[i][j] tells whether the group's j-th package is in it.
func compileForEval(ctx context.Context, checked *ast.Compiler, store storage.Store, modules map[string]*ast.Module, groups [][]string) (c *ast.Compiler, paths []string, combined [][]bool, err error) {
	folded, err := foldConstants(ctx, checked, store, modules)
	if err != nil {
		return nil, nil, nil, err
	}
	all := maps.Clone(folded)
	paths, combined = make([]string, len(groups)), make([][]bool, len(groups))
	if !usesPackage(modules, combinedPackage) {
		resolved, err := resolveRefs(folded)
		if err != nil {
			return nil, nil, nil, err
		}
		for i, group := range groups {
			path := fmt.Sprintf("data.%s.q%d", combinedPackage, i)
			m, in, err := combineViolations(resolved, ast.MustParseRef(path), group)
			if err != nil {
				return nil, nil, nil, err
			}
			combined[i] = in
			if m != nil {
				all[fmt.Sprintf("%s/q%d.rego", combinedPackage, i)] = m
				paths[i] = path + ".violations"
			}
		}
	}
	// The folded modules are the checked ones with some rules replaced by their values,
	// and the combined rules copies of checked rules, so they are not type-checked again:
	// knowing a value's exact shape, the checker would refuse references the original
	// accepts and that are merely undefined (a key the configured value lacks).
	c = ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithSkipStages(ast.StageCheckTypes)
	if c.Compile(all); c.Failed() {
		return nil, nil, nil, fmt.Errorf("compile the policies for evaluation: %w", c.Errors)
	}
	return c, paths, combined, nil
}

// usesPackage reports whether a module's package is, or is under, the named root.
func usesPackage(modules map[string]*ast.Module, root string) bool {
	prefix := ast.MustParseRef("data." + root)
	for _, m := range modules {
		if m.Package.Path.HasPrefix(prefix) {
			return true
		}
	}
	return false
}

// checkConfigAgainstPolicies reports configuration naming policies that are not loaded:
// a typo there would otherwise silently change nothing.
func checkConfigAgainstPolicies(cfg *config.Config, byID map[string]*Metadata) []string {
	var problems []string
	for _, id := range slices.Sorted(maps.Keys(cfg.Enforcement)) {
		if byID[id] == nil {
			problems = append(problems, fmt.Sprintf("config enforcement[%s]: no loaded policy has this id", id))
		}
	}
	for i, e := range cfg.Exemptions {
		if byID[e.Policy] == nil {
			problems = append(problems, fmt.Sprintf("config exemptions[%d].policy: no loaded policy has the id %s", i, e.Policy))
		}
	}
	return problems
}

// configData is the configuration as policies see it in data.bailiff.config.
func configData(cfg *config.Config) (map[string]any, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	return v, nil
}

// runTests runs the set's tests and rejects it if any fails or errors.
func runTests(ctx context.Context, modules map[string]*ast.Module) error {
	results, err := testModules(ctx, modules)
	if err != nil {
		return err
	}
	var problems []string
	for _, r := range results {
		if !r.Passed() {
			problems = append(problems, r.String())
		}
	}
	if len(problems) > 0 {
		return &LoadError{Problems: problems}
	}
	return nil
}

// otherKind stands for every kind no policy names: only kinds: [*] policies match it.
const otherKind = "\x00other"

// prepare builds one prepared query per (kind, operation) for validation and mutation,
// for evaluator. Unless literal, the policies are compiled for evaluation first
// (compileForEval).
func (s *Set) prepare(ctx context.Context, checked *ast.Compiler, modules map[string]*ast.Module, store storage.Store, literal bool, evaluator Evaluator) error {
	plans := s.queryPlans()
	groups, groupOf := validatorGroups(plans)
	compiler, paths, combined := checked, make([]string, len(groups)), make([][]bool, len(groups))
	if !literal {
		var err error
		if compiler, paths, combined, err = compileForEval(ctx, checked, store, modules, groups); err != nil {
			return err
		}
	}
	var scope *ireval.Scope // the queries of a set share the IR's functions and data
	if evaluator == IR {
		ireval.Register()
		scope = ireval.NewScope(store)
	}
	// Planning and compiling the queries is most of what building a set costs, and
	// each query is prepared on its own: they are prepared on every core.
	validate, mutate := make([]*query, len(plans)), make([]*query, len(plans))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, pl := range plans {
		g.Go(func() error {
			var err error
			grp := groupOf[i]
			if validate[i], err = prepareQuery(gctx, scope, compiler, store, pl.key, "violation", pl.validators, paths[grp], combined[grp]); err != nil {
				return err
			}
			mutate[i], err = prepareQuery(gctx, scope, compiler, store, pl.key, "patch", pl.mutators, "", nil)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	s.validate, s.mutate = map[queryKey]*query{}, map[queryKey]*query{}
	s.otherValidate, s.otherMutate = map[string]*query{}, map[string]*query{}
	for i, pl := range plans {
		if pl.key.kind == otherKind {
			s.otherValidate[pl.key.operation], s.otherMutate[pl.key.operation] = validate[i], mutate[i]
			continue
		}
		if validate[i] != nil {
			s.validate[pl.key] = validate[i]
		}
		if mutate[i] != nil {
			s.mutate[pl.key] = mutate[i]
		}
	}
	return nil
}

// queryPlan is what the query for one kind and operation runs.
type queryPlan struct {
	key                  queryKey
	validators, mutators []*Metadata
}

// queryPlans lists a plan for every kind a policy names, and for otherKind, under every
// operation; it also sets namedKinds.
func (s *Set) queryPlans() []queryPlan {
	s.namedKinds = map[string]bool{}
	for _, p := range s.policies {
		for k := range p.kinds {
			s.namedKinds[k] = true
		}
	}
	kinds := append(slices.Sorted(maps.Keys(s.namedKinds)), otherKind)
	ops := operations
	if r := s.restrict; r != nil {
		kinds = slices.DeleteFunc(kinds, func(k string) bool {
			if k == otherKind {
				return !slices.ContainsFunc(r.Kinds, func(rk string) bool { return !s.namedKinds[rk] })
			}
			return !slices.Contains(r.Kinds, k)
		})
		ops = slices.DeleteFunc(slices.Clone(operations), func(op string) bool { return !slices.Contains(r.Operations, op) })
	}
	var plans []queryPlan
	for _, op := range ops {
		for _, kind := range kinds {
			pl := queryPlan{key: queryKey{kind, op}}
			for _, p := range s.policies {
				if !p.AppliesTo(kind, op) {
					continue
				}
				if p.validates {
					pl.validators = append(pl.validators, p)
				}
				if p.Mutates {
					pl.mutators = append(pl.mutators, p)
				}
			}
			plans = append(plans, pl)
		}
	}
	return plans
}

// validatorGroups lists the distinct lists of packages the plans validate (queries
// validating the same policies share one combined rule); groupOf[i] is plans[i]'s.
func validatorGroups(plans []queryPlan) (groups [][]string, groupOf []int) {
	index := map[string]int{}
	groupOf = make([]int, len(plans))
	for i, pl := range plans {
		pkgs := make([]string, len(pl.validators))
		for j, p := range pl.validators {
			pkgs[j] = p.Package
		}
		id := strings.Join(pkgs, " ")
		g, ok := index[id]
		if !ok {
			g = len(groups)
			index[id] = g
			groups = append(groups, pkgs)
		}
		groupOf[i] = g
	}
	return groups, groupOf
}

// prepareQuery prepares the query evaluating one rule (violation or patch) of policies:
// the combined rule at combinedPath for the policies combined[i] marks, and each other
// policy's own rule. It is evaluated with the IR in scope, or with topdown when scope
// is nil. There is no query (nil) when no policy has the rule.
func prepareQuery(ctx context.Context, scope *ireval.Scope, compiler *ast.Compiler, store storage.Store, key queryKey, rule string, policies []*Metadata, combinedPath string, combined []bool) (*query, error) {
	if len(policies) == 0 {
		return nil, nil
	}
	var exprs []string
	vars := make([]string, len(policies))
	for i, p := range policies {
		if combinedPath != "" && combined[i] {
			continue
		}
		vars[i] = fmt.Sprintf("p%d", i)
		exprs = append(exprs, fmt.Sprintf("%s = data.%s.%s", vars[i], p.Package, rule))
	}
	if combinedPath != "" {
		exprs = append(exprs, "combined = "+combinedPath)
	}
	// rego sets options on the compiler it is given (the evaluation mode, a path
	// conflict check): each query gets its own shallow copy, as ast.QueryCompiler
	// makes, so queries can be prepared at once from one compiled set.
	own := *compiler
	options := []func(*rego.Rego){
		rego.Query(strings.Join(exprs, "; ")),
		rego.Compiler(&own),
		rego.Store(store),
	}
	if scope != nil {
		options = append(options, rego.Target(ireval.Target))
		ctx = scope.Context(ctx)
	}
	prepared, err := rego.New(options...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare %s query for %s %s: %w", rule, key.kind, key.operation, err)
	}
	return &query{prepared: prepared, policies: policies, vars: vars}, nil
}

// versionOf identifies a policy set and its configuration: the first 12 hex digits of a
// SHA-256 over every module and the configuration.
func versionOf(mods []module, cfg map[string]any) string {
	h := sha256.New()
	for _, m := range mods {
		fmt.Fprintf(h, "%s\x00%d\x00", m.file, len(m.source))
		h.Write(m.source)
	}
	b, _ := json.Marshal(cfg) // maps marshal with sorted keys: stable
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// queryFor returns the validation or mutation query for an input, or nil when no policy
// applies.
func (s *Set) queryFor(in *input.Input, mutation bool) *query {
	queries, other := s.validate, s.otherValidate
	if mutation {
		queries, other = s.mutate, s.otherMutate
	}
	if q, ok := queries[queryKey{in.Kind, in.Operation}]; ok {
		return q
	}
	if s.namedKinds[in.Kind] {
		return nil // a kind some policy names, but none applies to this operation
	}
	return other[in.Operation]
}
