package compliance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bailiff/bailiff/pkg/policy"
)

func mustLoad(t *testing.T) *Catalogue {
	t.Helper()
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEmbeddedCataloguesLoad(t *testing.T) {
	c := mustLoad(t)
	if got, want := strings.Join(c.IDs(), ","), "cis,gdpr,nsa,pss"; got != want {
		t.Fatalf("frameworks %s, want %s", got, want)
	}
	for _, want := range []string{
		"CIS-5.1.1", "CIS-5.1.13", "CIS-5.2.2", "CIS-5.2.13", "CIS-5.5.1", "CIS-5.7.1", "CIS-5.7.4",
		"NSA-RBAC", "NSA-Pod-Security", "PSS-baseline", "PSS-restricted",
		"GDPR-Art5", "GDPR-Art25", "GDPR-Art32-Access", "GDPR-Art32-Transit", "GDPR-Art32-Logging",
		"GDPR-Art44", "GDPR-Art45", "GDPR-Art46", "GDPR-Art47", "GDPR-Art48", "GDPR-Art49",
	} {
		if _, _, ok := c.Control(want); !ok {
			t.Errorf("control %s is missing", want)
		}
	}
}

// The catalogue and the policy library must agree both ways, so a report never
// counts a policy under a control it does not serve nor forgets one it does.
func TestCatalogueAgreesWithThePolicyLibrary(t *testing.T) {
	engine, err := policy.New(context.Background(), policy.Options{SkipTests: true})
	if err != nil {
		t.Fatal(err)
	}
	var pcs []PolicyControls
	for _, p := range engine.Set().Policies() {
		pcs = append(pcs, PolicyControls{ID: p.ID, Controls: p.Controls})
	}
	if err := mustLoad(t).CheckPolicies(pcs); err != nil {
		t.Fatal(err)
	}
}

func TestCheckPoliciesNamesEveryDisagreement(t *testing.T) {
	c := mustLoad(t)
	library := func(mods ...func([]PolicyControls) []PolicyControls) []PolicyControls {
		engine, err := policy.New(context.Background(), policy.Options{SkipTests: true})
		if err != nil {
			t.Fatal(err)
		}
		var pcs []PolicyControls
		for _, p := range engine.Set().Policies() {
			pcs = append(pcs, PolicyControls{ID: p.ID, Controls: append([]string(nil), p.Controls...)})
		}
		for _, m := range mods {
			pcs = m(pcs)
		}
		return pcs
	}
	tests := []struct {
		name     string
		policies []PolicyControls
		want     string
	}{
		{
			name: "a policy naming a control no catalogue has",
			policies: library(func(p []PolicyControls) []PolicyControls {
				return append(p, PolicyControls{ID: "BLF-NEW-001", Controls: []string{"CIS-9.9.9"}})
			}),
			want: "policy BLF-NEW-001 names control CIS-9.9.9, which no framework catalogue has",
		},
		{
			name: "a catalogue control listing a policy that does not exist",
			policies: library(func(p []PolicyControls) []PolicyControls {
				var out []PolicyControls
				for _, pc := range p {
					if pc.ID != "BLF-RBAC-015" {
						out = append(out, pc)
					}
				}
				return out
			}),
			want: "control CIS-5.1.4 (cis) lists policy BLF-RBAC-015, which does not exist",
		},
		{
			name: "a policy naming a control that does not list it",
			policies: library(func(p []PolicyControls) []PolicyControls {
				return append(p, PolicyControls{ID: "BLF-NEW-001", Controls: []string{"CIS-5.1.1"}})
			}),
			want: "policy BLF-NEW-001 names control CIS-5.1.1, but the catalogue's CIS-5.1.1 does not list it",
		},
		{
			name: "a control listing a policy that no longer names it",
			policies: library(func(p []PolicyControls) []PolicyControls {
				for i := range p {
					if p[i].ID == "BLF-RBAC-002" {
						p[i].Controls = []string{"NSA-RBAC"}
					}
				}
				return p
			}),
			want: "control CIS-5.1.1 (cis) lists policy BLF-RBAC-002, whose metadata does not name CIS-5.1.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.CheckPolicies(tt.policies)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDisputesMustStayTrue(t *testing.T) {
	const fw = "id: x\nname: X\nversion: \"1\"\nsections: [{id: s, title: S}]\n" +
		"controls: [{id: X-1, section: s, title: T, description: D, manual: true, guidance: G, disputed: {BLF-A-001: 'not this control'}}," +
		" {id: X-2, section: s, title: T, description: D, policies: [BLF-A-001]}]\n"
	c, err := LoadFS(fstest.MapFS{"f/x.yaml": {Data: []byte(fw)}}, "f")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckPolicies([]PolicyControls{{ID: "BLF-A-001", Controls: []string{"X-1", "X-2"}}}); err != nil {
		t.Errorf("a policy naming a control that disputes it: %v", err)
	}
	err = c.CheckPolicies([]PolicyControls{{ID: "BLF-A-001", Controls: []string{"X-2"}}})
	if want := "control X-1 (x) disputes policy BLF-A-001, which no longer names it"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a stale dispute: %v, want %q", err, want)
	}
}

func TestInvalidCataloguesAreRefusedWithTheirProblems(t *testing.T) {
	const header = "id: x\nname: X\nversion: \"1\"\nsections: [{id: s, title: S}]\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"an unknown key", header + "controls: [{id: X-1, section: s, title: T, description: D, policies: [BLF-A-001], colour: red}]", "field colour not found"},
		{"a control both manual and automated", header + "controls: [{id: X-1, section: s, title: T, description: D, policies: [BLF-A-001], manual: true, guidance: G}]", "exactly one of policies"},
		{"a control neither manual nor automated", header + "controls: [{id: X-1, section: s, title: T, description: D}]", "exactly one of policies"},
		{"a manual control without guidance", header + "controls: [{id: X-1, section: s, title: T, description: D, manual: true}]", "need guidance"},
		{"a control without a title", header + "controls: [{id: X-1, section: s, description: D, policies: [BLF-A-001]}]", "title and description are required"},
		{"a control in an unknown section", header + "controls: [{id: X-1, section: nope, title: T, description: D, policies: [BLF-A-001]}]", `section "nope"`},
		{"a malformed policy id", header + "controls: [{id: X-1, section: s, title: T, description: D, policies: [rbac-1]}]", `policy id "rbac-1"`},
		{"an include of an unknown control", header + "controls: [{id: X-1, section: s, title: T, description: D, policies: [BLF-A-001], includes: [X-9]}]", `includes "X-9"`},
		{"a dispute without a reason", header + "controls: [{id: X-1, section: s, title: T, description: D, manual: true, guidance: G, disputed: {BLF-A-001: ''}}]", "needs a reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"f/x.yaml": {Data: []byte(tt.yaml)}}
			_, err := LoadFS(fsys, "f")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDuplicateControlIDsAcrossFrameworksAreRefused(t *testing.T) {
	fw := func(id string) []byte {
		return []byte("id: " + id + "\nname: X\nversion: \"1\"\nsections: [{id: s, title: S}]\ncontrols: [{id: X-1, section: s, title: T, description: D, policies: [BLF-A-001]}]\n")
	}
	_, err := LoadFS(fstest.MapFS{"f/a.yaml": {Data: fw("a")}, "f/b.yaml": {Data: fw("b")}}, "f")
	if err == nil || !strings.Contains(err.Error(), "already used in framework a") {
		t.Fatalf("got %v", err)
	}
}

func TestUnknownFrameworkListsTheValidOnes(t *testing.T) {
	_, err := mustLoad(t).Select("hipaa")
	var unknown *UnknownFrameworkError
	if !errors.As(err, &unknown) {
		t.Fatalf("got %v, want an UnknownFrameworkError", err)
	}
	if want := `unknown framework "hipaa": use one of cis, gdpr, nsa, pss or all`; err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}

func TestRestrictedIncludesBaseline(t *testing.T) {
	c := mustLoad(t)
	restricted, _, _ := c.Control("PSS-restricted")
	got := c.EffectivePolicies(restricted)
	if len(got) != 19 || got[0] != "BLF-PSS-013" || got[len(got)-1] != "BLF-PSS-012" {
		t.Fatalf("effective policies of PSS-restricted: %v", got)
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name  string
		tally Tally
		want  string
	}{
		{"only passes", Tally{Pass: 4}, "100.0%"},
		{"manual and n/a controls do not count", Tally{Pass: 7, Fail: 1, Manual: 5, NotApplicable: 2}, "87.5%"},
		{"a third rounds to one decimal", Tally{Pass: 1, Fail: 2}, "33.3%"},
		{"nothing judged has no score", Tally{Manual: 3}, "n/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatScore(tt.tally.Score()); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
