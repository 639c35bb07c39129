package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/bailiff/bailiff/pkg/config"
)

// Enforcement actions.
const (
	Deny  = "deny"
	Warn  = "warn"
	Audit = "audit"
)

// Violation is one way an object breaks one policy.
type Violation struct {
	Policy      string         `json:"policy"`
	Title       string         `json:"title"`
	Severity    string         `json:"severity"`
	Enforcement string         `json:"enforcement"` // effective: config override, then the policy's own, then its metadata
	Message     string         `json:"message"`
	Field       string         `json:"field,omitempty"`
	Controls    []string       `json:"controls"`
	Details     map[string]any `json:"details,omitempty"`
}

// String is the violation as a person reads it in a denial: "[BLF-IMG-001] message".
func (v Violation) String() string { return fmt.Sprintf("[%s] %s", v.Policy, v.Message) }

// ExemptedViolation is a violation an exemption let through; the trail records each.
type ExemptedViolation struct {
	Violation Violation        `json:"violation"`
	Exemption config.Exemption `json:"exemption"`
}

// Result is what validation found.
type Result struct {
	Violations       []Violation         `json:"violations"`
	Exempted         []ExemptedViolation `json:"exempted,omitempty"`
	PolicySetVersion string              `json:"policySetVersion"`
	Evaluated        int                 `json:"evaluated"` // how many policies ran
}

// Denied reports whether any violation is enforced with deny.
func (r *Result) Denied() bool { return len(r.ByEnforcement(Deny)) > 0 }

// ByEnforcement returns the violations with the given effective enforcement.
func (r *Result) ByEnforcement(enforcement string) []Violation {
	var out []Violation
	for _, v := range r.Violations {
		if v.Enforcement == enforcement {
			out = append(out, v)
		}
	}
	return out
}

// Patch is one RFC 6902 operation from a mutating policy.
type Patch struct {
	Op     string `json:"op"`
	Path   string `json:"path"`
	Value  any    `json:"value,omitempty"`
	From   string `json:"from,omitempty"`
	Policy string `json:"-"`
}

// ExemptedMutation records a mutating policy an exemption skipped.
type ExemptedMutation struct {
	Policy    string           `json:"policy"`
	Exemption config.Exemption `json:"exemption"`
}

// Mutation is what the mutating policies want changed.
type Mutation struct {
	Patches          []Patch            `json:"patches"`
	Exempted         []ExemptedMutation `json:"exempted,omitempty"`
	PolicySetVersion string             `json:"policySetVersion"`
}

// violation turns one element of a policy's violation set into a Violation.
func (s *Set) violation(p *Metadata, item map[string]any) (Violation, error) {
	msg, ok := item["msg"].(string)
	if !ok || msg == "" {
		return Violation{}, fmt.Errorf("policy %s (%s): a violation needs a non-empty string msg, got %v", p.ID, p.File, item)
	}
	v := Violation{
		Policy:      p.ID,
		Title:       p.Title,
		Severity:    p.Severity,
		Enforcement: p.Enforcement,
		Message:     msg,
		Controls:    p.Controls,
	}
	if f, ok := item["field"].(string); ok {
		v.Field = f
	}
	if d, ok := item["details"].(map[string]any); ok {
		v.Details = d
	}
	if own, ok := item["enforcement"].(string); ok {
		if !slices.Contains(enforcements, own) {
			return Violation{}, fmt.Errorf("policy %s (%s): violation enforcement %q must be one of %s", p.ID, p.File, own, strings.Join(enforcements, ", "))
		}
		v.Enforcement = own
	}
	if override, ok := s.cfg.Enforcement[p.ID]; ok {
		v.Enforcement = override
	}
	return v, nil
}

// patchOf turns one element of a policy's patch set into a Patch.
func patchOf(p *Metadata, item map[string]any) (Patch, error) {
	op, _ := item["op"].(string)
	path, _ := item["path"].(string)
	switch op {
	case "add", "replace", "test":
		if _, ok := item["value"]; !ok {
			return Patch{}, fmt.Errorf("policy %s (%s): patch %s %s needs a value", p.ID, p.File, op, path)
		}
	case "remove":
	case "move", "copy":
		if _, ok := item["from"].(string); !ok {
			return Patch{}, fmt.Errorf("policy %s (%s): patch %s %s needs from", p.ID, p.File, op, path)
		}
	default:
		return Patch{}, fmt.Errorf("policy %s (%s): patch op %q is not an RFC 6902 operation", p.ID, p.File, op)
	}
	if !strings.HasPrefix(path, "/") {
		return Patch{}, fmt.Errorf("policy %s (%s): patch path %q must be a JSON pointer starting with /", p.ID, p.File, path)
	}
	from, _ := item["from"].(string)
	return Patch{Op: op, Path: path, Value: item["value"], From: from, Policy: p.ID}, nil
}

func sortViolations(vs []Violation) {
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Message < b.Message
	})
}

// sortPatches orders patches by policy and then path, so parents precede their children
// and the result is the same on every run.
func sortPatches(ps []Patch) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Policy != ps[j].Policy {
			return ps[i].Policy < ps[j].Policy
		}
		return ps[i].Path < ps[j].Path
	})
}
