package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/policy"
)

// TestEmbeddedLibraryLoadsAndPassesItsTests builds the shipped library the way a
// reload does: parsed, metadata checked, compiled, and every Rego test run.
func TestEmbeddedLibraryLoadsAndPassesItsTests(t *testing.T) {
	e, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	policies := e.Set().Policies()
	families := map[string]int{}
	for _, p := range policies {
		families[strings.Split(p.Package, ".")[1]]++
		if len(p.Controls) == 0 {
			t.Errorf("%s names no framework control", p.ID)
		}
	}
	for _, family := range []string{"rbac", "images", "resources", "placement", "podsecurity"} {
		if families[family] == 0 {
			t.Errorf("the library has no %s policies", family)
		}
	}
	results, err := policy.Test(context.Background(), []policy.Source{policy.Embedded()})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < len(policies) {
		t.Errorf("%d tests for %d policies: every policy needs tests", len(results), len(policies))
	}
}

// TestExampleConfigurationLoads keeps the demo configuration valid against the library.
func TestExampleConfigurationLoads(t *testing.T) {
	cfg, err := config.Load("../../test/demo/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.New(context.Background(), policy.Options{Config: cfg, SkipTests: true}); err != nil {
		t.Fatal(err)
	}
}
