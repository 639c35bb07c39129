package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/policy"
)

// writeTree writes files (path relative to dir: content) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dataTests is a directory whose tests pass only when its data files are loaded the
// way opa test loads them.
var dataTests = map[string]string{
	"data.json":       `{"x": 1}`,
	"sub/other.yaml":  "y: 2\n",
	"extra.yml":       "z: 3\n",
	"notes.txt":       "not data",
	"settings.yaml":   "bailiff: {config: {images: {maxSeverity: low}}}\n",
	"sub/deep/d.json": `{"w": 4}`,
	"data_test.rego": `package acme.data_test

test_root_json if data.x == 1

test_yaml_at_its_directory if data.sub.y == 2

test_yml if data.z == 3

test_nested_directories if data.sub.deep.w == 4

test_data_laid_over_the_default_configuration if {
	data.bailiff.config.images.maxSeverity == "low"
	data.bailiff.config.images.unscanned == "warn"
}
`,
}

// libraryUser is a policy of a user's own that imports the library, with its test.
var libraryUser = map[string]string{
	"owner.rego": `# METADATA
# title: Pods name an owner
# scope: package
# custom:
#   id: ACME-001
#   severity: low
#   enforcement: deny
#   kinds: [Pod]
#   controls: [ACME-1]
package bailiff.acme.owner

import data.bailiff.lib.k8s

violation contains {"msg": "label the pod with its owner"} if not k8s.obj.metadata.labels.owner
`,
	"owner_test.rego": `package bailiff.acme.owner_test

import data.bailiff.acme.owner

test_unlabelled if {
	count(owner.violation) == 1 with input as {"request": {"kind": {"kind": "Pod"}, "object": {"metadata": {}}}}
}
`,
}

func TestPolicyTestsRunAsOPATestRunsThem(t *testing.T) {
	library, err := filepath.Abs("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	builtIn, err := policy.Test(context.Background(), []policy.Source{policy.Embedded()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		dir         string
		withLibrary bool
		want        int    // tests run; -1: as many as the built-in library has
		wantPackage string // every test is in a package starting so
	}{
		{"data files load at their directory's path", writeTree(t, dataTests), false, 5, "acme.data_test"},
		{"data files load with the library too", writeTree(t, dataTests), true, 5, "acme.data_test"},
		{"a user's policies use the library", writeTree(t, libraryUser), true, 1, "bailiff.acme."},
		{"the library tested by its absolute path", library, true, -1, "bailiff."},
		{"the library tested by its relative path", "../../policies", true, -1, "bailiff."},
		{"a part of the library tested by its path", filepath.Join(library, "rbac"), true, 0, "bailiff.rbac."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := policy.Test
			if tt.withLibrary {
				run = policy.TestWithLibrary
			}
			results, err := run(context.Background(), []policy.Source{policy.Dir(tt.dir)})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want < 0 {
				want = len(builtIn)
			}
			if want > 0 && len(results) != want || len(results) == 0 {
				t.Errorf("%d tests ran, want %d", len(results), want)
			}
			for _, r := range results {
				if !r.Passed() {
					t.Errorf("%s", r)
				}
				if !strings.HasPrefix(r.Package, tt.wantPackage) {
					t.Errorf("%s: a test outside %s ran", r, tt.wantPackage)
				}
			}
		})
	}
}
