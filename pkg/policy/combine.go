package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// combinedPackage is the package of the rules combineViolations generates.
const combinedPackage = "bailiff_engine_combined"

// combineViolations returns a module in package path holding one partial set rule,
// violations, with the bodies of the violation rules of every policy in packages:
// violations contains [i, v] for each violation v of packages[i]. It also returns, for
// each package, whether it is combined; a package whose violation is not made of
// partial set rules, or whose rules read their own metadata, is not, and is evaluated
// on its own.
//
// Evaluating one rule with every policy's bodies costs much less than evaluating each
// policy's violation set: topdown's fixed cost per rule (a document walk, a set, a cache
// entry, a result binding) is paid once instead of once per policy, and the bodies run
// exactly as written. resolved holds the policy modules with their references resolved
// (compiled up to ast.StageResolveRefs), so that the bodies mean the same in another
// package.
func combineViolations(resolved map[string]*ast.Module, path ast.Ref, packages []string) (*ast.Module, []bool, error) {
	byPackage := map[string][]*ast.Rule{}
	for _, m := range resolved {
		pkg := m.Package.Path.String()
		for _, r := range m.Rules {
			if r.Head.Ref().String() == "violation" {
				byPackage[pkg] = append(byPackage[pkg], r)
			}
		}
	}
	mod := &ast.Module{Package: &ast.Package{Path: path}}
	mod.Package.Location = ast.NewLocation(nil, combinedPackage, 1, 1)
	combined := make([]bool, len(packages))
	for i, pkg := range packages {
		rules := byPackage["data."+pkg]
		if !combinable(rules) {
			continue
		}
		combined[i] = true
		for _, r := range rules {
			cpy := r.Copy()
			head := ast.RefHead(ast.Ref{ast.VarTerm("violations")})
			head.Key = ast.ArrayTerm(ast.InternedTerm(i), cpy.Head.Key)
			head.Location = r.Head.Location
			cpy.Head = head
			cpy.Module = mod
			mod.Rules = append(mod.Rules, cpy)
		}
	}
	if len(mod.Rules) == 0 {
		return nil, combined, nil
	}
	return mod, combined, nil
}

// regoMetadata is the reference to rego.metadata, the rule's own metadata.
var regoMetadata = ast.Ref{ast.VarTerm("rego"), ast.StringTerm("metadata")}

// combinable reports whether a policy's violation rules can be evaluated in another
// package: partial set rules (violation contains v if ...) that do not read their own
// metadata, whose meaning depends on where they are written.
func combinable(rules []*ast.Rule) bool {
	if len(rules) == 0 {
		return false
	}
	for _, r := range rules {
		if r.Head.RuleKind() != ast.MultiValue || len(r.Head.Args) > 0 || r.Head.Key == nil || r.Default || r.Else != nil {
			return false
		}
		metadata := false
		ast.WalkRefs(r, func(ref ast.Ref) bool {
			if ref.HasPrefix(regoMetadata) {
				metadata = true
			}
			return metadata
		})
		if metadata {
			return false
		}
	}
	return true
}

// resolveRefs returns copies of the modules with every reference resolved to the
// document it names (imports and package-local rules), as the compiler's first stage
// leaves them.
func resolveRefs(modules map[string]*ast.Module) (map[string]*ast.Module, error) {
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithOnlyStagesUpTo(ast.StageResolveRefs)
	if c.Compile(modules); c.Failed() {
		return nil, fmt.Errorf("resolve references: %w", c.Errors)
	}
	return c.Modules, nil
}
