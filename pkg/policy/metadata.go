package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/bailiff/bailiff/pkg/input"
)

// Metadata describes one policy, from the METADATA block of its package.
type Metadata struct {
	ID          string         `json:"id"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Severity    string         `json:"severity"`
	Enforcement string         `json:"enforcement"`
	Kinds       []string       `json:"kinds"`
	Controls    []string       `json:"controls"`
	Mutates     bool           `json:"mutates"`
	Operations  []string       `json:"operations"`
	Package     string         `json:"package"` // "bailiff.images.registry"
	File        string         `json:"file"`
	Custom      map[string]any `json:"custom,omitempty"` // every custom key, for extensions (e.g. pss)

	validates bool // has a violation rule
	kinds     map[string]bool
	anyKind   bool
}

// Severities, strongest first.
var severities = []string{"critical", "high", "medium", "low"}

var enforcements = []string{"deny", "warn", "audit"}

var operations = []string{input.OpCreate, input.OpUpdate, input.OpDelete, input.OpConnect}

// AppliesTo reports whether the policy runs for an object kind and operation.
func (m *Metadata) AppliesTo(kind, operation string) bool {
	return (m.anyKind || m.kinds[kind]) && slices.Contains(m.Operations, operation)
}

// SeverityRank orders severities: critical 0, high 1, medium 2, low 3.
func SeverityRank(s string) int {
	if i := slices.Index(severities, s); i >= 0 {
		return i
	}
	return len(severities)
}

// metadataOf reads and checks a policy module's METADATA. It returns nil, nil for a
// library module (no violation or patch rule).
func metadataOf(file string, m *ast.Module) (*Metadata, error) {
	validates, mutates := ruleNamed(m, "violation"), ruleNamed(m, "patch")
	if !validates && !mutates {
		return nil, nil
	}
	pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
	at := func(loc *ast.Location) string {
		if loc == nil {
			return file
		}
		return fmt.Sprintf("%s:%d:%d", file, loc.Row, loc.Col)
	}
	if !strings.HasPrefix(pkg, "bailiff.") {
		return nil, fmt.Errorf("%s: package %s defines violation or patch rules, so it is a policy and must be named bailiff.<family>.<name>", at(m.Package.Location), pkg)
	}
	var ann *ast.Annotations
	for _, a := range m.Annotations {
		if a.Scope == "package" {
			ann = a
			break
		}
	}
	if ann == nil {
		return nil, fmt.Errorf("%s: policy %s has no METADATA block (scope: package) with title and custom id, severity, enforcement, kinds, controls", at(m.Package.Location), pkg)
	}
	md := &Metadata{
		Title:       ann.Title,
		Description: ann.Description,
		Package:     pkg,
		File:        file,
		Custom:      ann.Custom,
		validates:   validates,
		kinds:       map[string]bool{},
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	c := ann.Custom
	md.ID = str(c["id"])
	md.Severity = str(c["severity"])
	md.Enforcement = str(c["enforcement"])
	md.Mutates, _ = c["mutates"].(bool)
	md.Kinds, problems = strs(c, "kinds", problems)
	md.Controls, problems = strs(c, "controls", problems)
	md.Operations, problems = strs(c, "operations", problems)
	if md.ID == "" {
		bad("custom.id is required (a stable id like BLF-IMG-001)")
	}
	if md.Title == "" {
		bad("title is required")
	}
	if !slices.Contains(severities, md.Severity) {
		bad("custom.severity %q must be one of %s", md.Severity, strings.Join(severities, ", "))
	}
	if !slices.Contains(enforcements, md.Enforcement) {
		bad("custom.enforcement %q must be one of %s", md.Enforcement, strings.Join(enforcements, ", "))
	}
	if len(md.Kinds) == 0 {
		bad("custom.kinds must list the kinds the policy applies to (Kind names, workloads, rbac or *)")
	}
	if len(md.Operations) == 0 {
		md.Operations = []string{input.OpCreate, input.OpUpdate}
	}
	for _, op := range md.Operations {
		if !slices.Contains(operations, op) {
			bad("custom.operations: %q must be one of %s", op, strings.Join(operations, ", "))
		}
	}
	if mutates && !md.Mutates {
		bad("the package has patch rules, so its metadata must say mutates: true")
	}
	if md.Mutates && !mutates {
		bad("metadata says mutates: true but the package has no patch rule")
	}
	for _, k := range md.Kinds {
		switch k {
		case "*":
			md.anyKind = true
		case "workloads":
			for _, w := range input.WorkloadKinds() {
				md.kinds[w] = true
			}
		case "rbac":
			for _, r := range input.RBACKinds() {
				md.kinds[r] = true
			}
		default:
			md.kinds[k] = true
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: policy %s: %s", at(ann.Location), pkg, strings.Join(problems, "; "))
	}
	return md, nil
}

func ruleNamed(m *ast.Module, name string) bool {
	for _, r := range m.Rules {
		if r.Head.Name.String() == name || (len(r.Head.Reference) == 1 && r.Head.Reference[0].Value.Compare(ast.Var(name)) == 0) {
			return true
		}
	}
	return false
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// strs reads a list of strings from custom metadata.
func strs(c map[string]any, key string, problems []string) ([]string, []string) {
	raw, ok := c[key]
	if !ok || raw == nil {
		return []string{}, problems // [] in JSON (policy list, scan output), never null
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, append(problems, fmt.Sprintf("custom.%s must be a list", key))
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		s, ok := item.(string)
		if !ok || s == "" {
			return nil, append(problems, fmt.Sprintf("custom.%s must hold only non-empty strings", key))
		}
		out = append(out, s)
	}
	return out, problems
}
