package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/input"
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
}

type queryKey struct{ kind, operation string }

// query is one prepared query evaluating several policies at once: binding "p<i>"
// holds the result of policies[i].
type query struct {
	prepared rego.PreparedEvalQuery
	policies []*Metadata
	vars     []string // vars[i] is the binding of policies[i]
}

// buildOptions are what a Set is built from.
type buildOptions struct {
	sources  []Source
	cfg      *config.Config
	runTests bool
}

// buildSet parses, checks, compiles and (optionally) tests a policy set. Every problem
// is reported with file:row:col; nothing is half-built.
func buildSet(ctx context.Context, opts buildOptions) (*Set, error) {
	mods, err := readModules(opts.sources)
	if err != nil {
		return nil, err
	}
	var problems []string
	set := &Set{byID: map[string]*Metadata{}, cfg: opts.cfg}
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
	if err := set.prepare(ctx, compiler, store); err != nil {
		return nil, err
	}
	set.version = versionOf(mods, cfgValue)
	return set, nil
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

// prepare builds one prepared query per (kind, operation) for validation and mutation.
func (s *Set) prepare(ctx context.Context, compiler *ast.Compiler, store storage.Store) error {
	s.namedKinds = map[string]bool{}
	for _, p := range s.policies {
		for k := range p.kinds {
			s.namedKinds[k] = true
		}
	}
	s.validate, s.mutate = map[queryKey]*query{}, map[queryKey]*query{}
	s.otherValidate, s.otherMutate = map[string]*query{}, map[string]*query{}
	const otherKind = "\x00other" // a kind no policy names: only kinds: [*] policies match
	for _, op := range operations {
		for kind := range s.namedKinds {
			if err := s.prepareFor(ctx, compiler, store, kind, op, s.validate, s.mutate); err != nil {
				return err
			}
		}
		other := map[queryKey]*query{}
		otherMutate := map[queryKey]*query{}
		if err := s.prepareFor(ctx, compiler, store, otherKind, op, other, otherMutate); err != nil {
			return err
		}
		s.otherValidate[op] = other[queryKey{otherKind, op}]
		s.otherMutate[op] = otherMutate[queryKey{otherKind, op}]
	}
	return nil
}

func (s *Set) prepareFor(ctx context.Context, compiler *ast.Compiler, store storage.Store, kind, op string, validate, mutate map[queryKey]*query) error {
	var validators, mutators []*Metadata
	for _, p := range s.policies {
		if !p.AppliesTo(kind, op) {
			continue
		}
		if p.validates {
			validators = append(validators, p)
		}
		if p.Mutates {
			mutators = append(mutators, p)
		}
	}
	key := queryKey{kind, op}
	for _, q := range []struct {
		rule     string
		policies []*Metadata
		into     map[queryKey]*query
	}{{"violation", validators, validate}, {"patch", mutators, mutate}} {
		if len(q.policies) == 0 {
			continue
		}
		exprs := make([]string, len(q.policies))
		vars := make([]string, len(q.policies))
		for i, p := range q.policies {
			vars[i] = fmt.Sprintf("p%d", i)
			exprs[i] = fmt.Sprintf("%s = data.%s.%s", vars[i], p.Package, q.rule)
		}
		prepared, err := rego.New(
			rego.Query(strings.Join(exprs, "; ")),
			rego.Compiler(compiler),
			rego.Store(store),
		).PrepareForEval(ctx)
		if err != nil {
			return fmt.Errorf("prepare %s query for %s %s: %w", q.rule, kind, op, err)
		}
		q.into[key] = &query{prepared: prepared, policies: q.policies, vars: vars}
	}
	return nil
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
