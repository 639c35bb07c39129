// Package compliance holds the compliance frameworks Bailiff reports on (CIS Kubernetes
// Benchmark, NSA/CISA Kubernetes Hardening Guide, Pod Security Standards, GDPR) as
// embedded catalogues, and the rules that turn policy results into a control's status
// and a framework's score.
//
// A catalogue is data: each control says which policies automate it, or that it is
// manual and what an auditor should check instead. The policies' own metadata names
// the controls they serve; CheckPolicies holds the two to agreement.
package compliance

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed frameworks/*.yaml
var frameworkFiles embed.FS

// Framework is one compliance framework and its controls, in catalogue order.
type Framework struct {
	// ID is the short name used on the command line and in reports: cis, nsa, pss, gdpr.
	ID      string `yaml:"id" json:"id"`
	Name    string `yaml:"name" json:"name"`
	Version string `yaml:"version" json:"version"`
	URL     string `yaml:"url" json:"url,omitempty"`
	// Sections group controls for display, in order.
	Sections []Section `yaml:"sections" json:"sections"`
	Controls []Control `yaml:"controls" json:"controls"`
}

// Section is a heading controls are grouped under.
type Section struct {
	ID    string `yaml:"id" json:"id"`
	Title string `yaml:"title" json:"title"`
}

// Control is one requirement of a framework.
type Control struct {
	// ID is unique across all frameworks and is what policies name in their
	// metadata's controls: CIS-5.1.1, NSA-RBAC, PSS-restricted, GDPR-Art44.
	ID          string `yaml:"id" json:"id"`
	Section     string `yaml:"section" json:"section"`
	Title       string `yaml:"title" json:"title"`
	Description string `yaml:"description" json:"description"`
	// Policies are the ids of the policies that automate the control: it passes when
	// none of them has an open finding.
	Policies []string `yaml:"policies" json:"policies,omitempty"`
	// Includes names controls of the same framework whose policies also count here
	// (the Restricted profile includes Baseline).
	Includes []string `yaml:"includes" json:"includes,omitempty"`
	// Trail marks a control automated by the audit trail itself: it passes when the
	// report's trail range verifies intact and holds events.
	Trail bool `yaml:"trail" json:"trail,omitempty"`
	// Manual marks a control no policy automates; Guidance says what to check.
	Manual   bool   `yaml:"manual" json:"manual,omitempty"`
	Guidance string `yaml:"guidance" json:"guidance,omitempty"`
	// Disputed lists policies whose metadata names this control although the mapping
	// is wrong, with the reason; their findings do not count here.
	Disputed map[string]string `yaml:"disputed" json:"disputed,omitempty"`
}

// Automation says how a control's status is decided: "policies", "trail" or "manual".
func (c *Control) Automation() string {
	switch {
	case c.Manual:
		return AutomationManual
	case c.Trail:
		return AutomationTrail
	default:
		return AutomationPolicies
	}
}

// How a control's status is decided.
const (
	AutomationPolicies = "policies"
	AutomationTrail    = "trail"
	AutomationManual   = "manual"
)

// Catalogue is every framework Bailiff knows, ordered by ID.
type Catalogue struct {
	frameworks []*Framework
	controls   map[string]*Control
	owner      map[string]*Framework // control ID -> its framework
}

// Load reads and validates the embedded catalogues.
func Load() (*Catalogue, error) {
	return LoadFS(frameworkFiles, "frameworks")
}

// LoadFS reads and validates every *.yaml file in dir of fsys, one framework a file.
func LoadFS(fsys fs.FS, dir string) (*Catalogue, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list framework catalogues: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no framework catalogues (*.yaml) in %s", dir)
	}
	var fws []*Framework
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read framework catalogue: %w", err)
		}
		fw, err := parseFramework(data)
		if err != nil {
			return nil, fmt.Errorf("framework catalogue %s: %w", name, err)
		}
		fws = append(fws, fw)
	}
	return newCatalogue(fws)
}

// parseFramework decodes one catalogue strictly: unknown keys are errors.
func parseFramework(data []byte) (*Framework, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var fw Framework
	if err := dec.Decode(&fw); err != nil {
		return nil, err
	}
	return &fw, nil
}

var (
	frameworkIDPattern = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	controlIDPattern   = regexp.MustCompile(`^[A-Z]+-[A-Za-z0-9.()-]+$`)
	policyIDPattern    = regexp.MustCompile(`^BLF-[A-Z]+-[0-9]{3}$`)
)

// newCatalogue validates frameworks together: every problem is reported, each with
// the framework and control it concerns.
func newCatalogue(fws []*Framework) (*Catalogue, error) {
	c := &Catalogue{controls: map[string]*Control{}, owner: map[string]*Framework{}}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	seenFW := map[string]bool{}
	for _, fw := range fws {
		where := "framework " + fw.ID
		switch {
		case !frameworkIDPattern.MatchString(fw.ID):
			bad("framework id %q must be lower-case letters and digits (cis, nsa)", fw.ID)
		case seenFW[fw.ID]:
			bad("%s is defined twice", where)
		}
		seenFW[fw.ID] = true
		if fw.Name == "" || fw.Version == "" {
			bad("%s: name and version are required", where)
		}
		if len(fw.Controls) == 0 {
			bad("%s has no controls", where)
		}
		sections := map[string]bool{}
		for _, s := range fw.Sections {
			if s.ID == "" || s.Title == "" || sections[s.ID] {
				bad("%s: section %q needs a unique id and a title", where, s.ID)
			}
			sections[s.ID] = true
		}
		for i := range fw.Controls {
			ctl := &fw.Controls[i]
			at := fmt.Sprintf("%s, control %q", where, ctl.ID)
			if !controlIDPattern.MatchString(ctl.ID) {
				bad("%s: id must look like CIS-5.1.1 or NSA-RBAC", at)
			}
			if prev, dup := c.owner[ctl.ID]; dup {
				bad("%s: id already used in framework %s", at, prev.ID)
			}
			c.controls[ctl.ID], c.owner[ctl.ID] = ctl, fw
			if ctl.Title == "" || ctl.Description == "" {
				bad("%s: title and description are required", at)
			}
			if !sections[ctl.Section] {
				bad("%s: section %q is not one of the framework's sections", at, ctl.Section)
			}
			modes := 0
			for _, on := range []bool{len(ctl.Policies) > 0, ctl.Trail, ctl.Manual} {
				if on {
					modes++
				}
			}
			if modes != 1 {
				bad("%s: give exactly one of policies (automated), trail: true or manual: true", at)
			}
			if (ctl.Manual || ctl.Trail) && strings.TrimSpace(ctl.Guidance) == "" {
				bad("%s: manual and trail controls need guidance for the auditor", at)
			}
			seenPolicy := map[string]bool{}
			for _, p := range ctl.Policies {
				if !policyIDPattern.MatchString(p) {
					bad("%s: policy id %q must look like BLF-RBAC-001", at, p)
				}
				if seenPolicy[p] {
					bad("%s: policy %s listed twice", at, p)
				}
				seenPolicy[p] = true
			}
			for p, reason := range ctl.Disputed {
				if seenPolicy[p] {
					bad("%s: policy %s is both listed and disputed", at, p)
				}
				if strings.TrimSpace(reason) == "" {
					bad("%s: disputed policy %s needs a reason", at, p)
				}
			}
		}
		c.frameworks = append(c.frameworks, fw)
	}
	for _, fw := range c.frameworks {
		for _, ctl := range fw.Controls {
			for _, inc := range ctl.Includes {
				if owner, ok := c.owner[inc]; !ok || owner != fw || inc == ctl.ID {
					bad("framework %s, control %q: includes %q, which is not another control of the same framework", fw.ID, ctl.ID, inc)
				} else if len(c.controls[inc].Includes) > 0 {
					bad("framework %s, control %q: includes %q, which includes others itself (one level only)", fw.ID, ctl.ID, inc)
				}
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("invalid framework catalogue:\n  " + strings.Join(problems, "\n  "))
	}
	sort.Slice(c.frameworks, func(i, j int) bool { return c.frameworks[i].ID < c.frameworks[j].ID })
	return c, nil
}

// Frameworks returns every framework, ordered by ID.
func (c *Catalogue) Frameworks() []*Framework { return slices.Clone(c.frameworks) }

// IDs returns the framework IDs, ordered.
func (c *Catalogue) IDs() []string {
	ids := make([]string, len(c.frameworks))
	for i, fw := range c.frameworks {
		ids[i] = fw.ID
	}
	return ids
}

// All is the framework selector that means every framework.
const All = "all"

// Framework returns the framework with the given ID.
func (c *Catalogue) Framework(id string) (*Framework, error) {
	for _, fw := range c.frameworks {
		if fw.ID == id {
			return fw, nil
		}
	}
	return nil, &UnknownFrameworkError{Name: id, Valid: c.IDs()}
}

// Select returns the frameworks a selector names: one framework ID, or All.
func (c *Catalogue) Select(selector string) ([]*Framework, error) {
	if selector == All {
		return c.Frameworks(), nil
	}
	fw, err := c.Framework(selector)
	if err != nil {
		return nil, err
	}
	return []*Framework{fw}, nil
}

// UnknownFrameworkError names a framework the catalogue does not have, and the valid ones.
type UnknownFrameworkError struct {
	Name  string
	Valid []string
}

func (e *UnknownFrameworkError) Error() string {
	return fmt.Sprintf("unknown framework %q: use one of %s or %s", e.Name, strings.Join(e.Valid, ", "), All)
}

// Control returns a control by ID and its framework.
func (c *Catalogue) Control(id string) (*Control, *Framework, bool) {
	ctl, ok := c.controls[id]
	if !ok {
		return nil, nil, false
	}
	return ctl, c.owner[id], true
}

// EffectivePolicies are the policies whose findings decide a control: its own and
// those of the controls it includes, in that order, without repeats.
func (c *Catalogue) EffectivePolicies(ctl *Control) []string {
	out := slices.Clone(ctl.Policies)
	for _, inc := range ctl.Includes {
		for _, p := range c.controls[inc].Policies {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}
