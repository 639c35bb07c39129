package compliance

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// PolicyControls is what the agreement check needs of a policy: its id and the
// control ids its metadata names.
type PolicyControls struct {
	ID       string
	Controls []string
}

// Dispute is a policy naming a control that the catalogue deliberately does not count
// it under, with the catalogue's reason.
type Dispute struct {
	Control string `json:"control"`
	Policy  string `json:"policy"`
	Reason  string `json:"reason"`
}

// Disputes lists every disputed mapping, ordered by control and policy.
func (c *Catalogue) Disputes() []Dispute {
	var out []Dispute
	for _, fw := range c.frameworks {
		for _, ctl := range fw.Controls {
			for p, reason := range ctl.Disputed {
				out = append(out, Dispute{Control: ctl.ID, Policy: p, Reason: strings.Join(strings.Fields(reason), " ")})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Control != out[j].Control {
			return out[i].Control < out[j].Control
		}
		return out[i].Policy < out[j].Policy
	})
	return out
}

// CheckPolicies holds the catalogue and a policy library to agreement, both ways:
// every control a policy names exists and lists the policy (or disputes the mapping
// with a reason), and every policy a control lists exists and names the control. It
// returns every disagreement at once.
func (c *Catalogue) CheckPolicies(policies []PolicyControls) error {
	var problems []string
	names := map[string]map[string]bool{} // policy -> controls it names
	for _, p := range policies {
		names[p.ID] = map[string]bool{}
		for _, id := range p.Controls {
			names[p.ID][id] = true
			ctl, _, ok := c.Control(id)
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("policy %s names control %s, which no framework catalogue has (known: %s)", p.ID, id, c.controlPrefixes()))
			case ctl.Disputed[p.ID] != "":
			case !slices.Contains(ctl.Policies, p.ID):
				problems = append(problems, fmt.Sprintf("policy %s names control %s, but the catalogue's %s does not list it: add it to policies, or to disputed with a reason", p.ID, id, id))
			}
		}
	}
	for _, fw := range c.frameworks {
		for _, ctl := range fw.Controls {
			for _, p := range ctl.Policies {
				named, exists := names[p]
				switch {
				case !exists:
					problems = append(problems, fmt.Sprintf("control %s (%s) lists policy %s, which does not exist", ctl.ID, fw.ID, p))
				case !named[ctl.ID]:
					problems = append(problems, fmt.Sprintf("control %s (%s) lists policy %s, whose metadata does not name %s", ctl.ID, fw.ID, p, ctl.ID))
				}
			}
			for p := range ctl.Disputed {
				if !names[p][ctl.ID] {
					problems = append(problems, fmt.Sprintf("control %s (%s) disputes policy %s, which no longer names it: remove the dispute", ctl.ID, fw.ID, p))
				}
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return errors.New("the policies and the framework catalogues disagree:\n  " + strings.Join(problems, "\n  "))
}

// controlPrefixes describes the control ids the catalogue has, for error messages.
func (c *Catalogue) controlPrefixes() string {
	var out []string
	for _, fw := range c.frameworks {
		prefix, _, _ := strings.Cut(fw.Controls[0].ID, "-")
		out = append(out, prefix+"-… ("+fw.ID+")")
	}
	return strings.Join(out, ", ")
}
