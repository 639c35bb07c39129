package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/policies"
)

// Source is a tree of .rego files: the embedded library or a directory.
type Source struct {
	Name    string // shown in file names of errors: "policies", "/etc/bailiff/policies"
	FS      fs.FS
	builtin bool // the embedded library
}

// Embedded is the policy library compiled into the binary.
func Embedded() Source { return Source{Name: "policies", FS: policies.FS, builtin: true} }

// Dir is a directory of extra policies.
func Dir(dir string) Source { return Source{Name: dir, FS: os.DirFS(dir)} }

// Files names where a policy set comes from on disk: a configuration file ("" for the
// built-in defaults) and extra policy directories loaded with the embedded library.
type Files struct {
	ConfigFile string
	PolicyDirs []string
}

// Options reads the configuration and returns the engine options for the files as they
// are now. Extra directories are tested before use; the embedded library's tests ran
// when Bailiff was built.
func (f Files) Options() (Options, error) {
	cfg, err := config.Default()
	if f.ConfigFile != "" {
		cfg, err = config.Load(f.ConfigFile)
	}
	if err != nil {
		return Options{}, err
	}
	sources := []Source{Embedded()}
	for _, d := range f.PolicyDirs {
		sources = append(sources, Dir(d))
	}
	return Options{Sources: sources, Config: cfg, SkipTests: len(f.PolicyDirs) == 0}, nil
}

// module is one parsed Rego file.
type module struct {
	file    string // as shown to people
	source  []byte
	parsed  *ast.Module
	test    bool // a _test.rego file
	builtin bool // from the embedded library
}

// readModules parses every .rego file of the sources (the _test.rego files only with
// tests), reporting every parse error with file:row:col, and keeps the files of policy
// directories beside the library's (see besideTheLibrary).
func readModules(sources []Source, tests bool) ([]module, error) {
	var mods []module
	var problems []string
	for _, src := range sources {
		err := fs.WalkDir(src.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// A Kubernetes ConfigMap or Secret volume holds its files twice: in a
			// timestamped "..2026_…" directory and as links to it beside. Names
			// starting with ".." are that machinery, never policies.
			if p != "." && strings.HasPrefix(d.Name(), "..") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || path.Ext(p) != ".rego" || !tests && strings.HasSuffix(p, "_test.rego") {
				return nil
			}
			b, err := fs.ReadFile(src.FS, p)
			if err != nil {
				return err
			}
			file := filepath.Join(src.Name, filepath.FromSlash(p))
			parsed, err := ast.ParseModuleWithOpts(file, string(b), ast.ParserOptions{ProcessAnnotation: true, RegoVersion: ast.RegoV1})
			if err != nil {
				problems = append(problems, formatErrors(err)...)
				return nil
			}
			mods = append(mods, module{file: file, source: b, parsed: parsed, test: strings.HasSuffix(p, "_test.rego"), builtin: src.builtin})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read policies from %s: %w", src.Name, err)
		}
	}
	mods, besideProblems := besideTheLibrary(mods)
	problems = append(problems, besideProblems...)
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems}
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].file < mods[j].file })
	return mods, nil
}

// besideTheLibrary keeps what policy directories add to the built-in library, which
// they never replace. A directory's file identical to one of the library's (a copy of
// the library, passed whole as a policy directory) is dropped; one that declares a
// package of the library's with other content is refused, as is a second, different
// file shown under a name already read.
func besideTheLibrary(mods []module) (kept []module, problems []string) {
	type content struct {
		test   bool
		source string
	}
	libraryFiles := map[content]bool{}
	libraryPackages := map[string]string{} // package → a library file declaring it
	for _, m := range mods {
		if m.builtin {
			libraryFiles[content{m.test, string(m.source)}] = true
			libraryPackages[packageOf(m)] = m.file
		}
	}
	named := make(map[string]bool, len(mods))
	for _, m := range mods {
		if !m.builtin {
			if libraryFiles[content{m.test, string(m.source)}] {
				continue
			}
			if file, ok := libraryPackages[packageOf(m)]; ok {
				problems = append(problems, fmt.Sprintf("%s: package %s belongs to the built-in library (%s), and this file differs from the library's: "+
					"a policy directory adds policies, it does not replace the library's; give this one a package and id of its own, "+
					"and set the built-in policy's enforcement to audit in the configuration if it must not deny", m.file, packageOf(m), file))
				continue
			}
		}
		if named[m.file] {
			problems = append(problems, fmt.Sprintf("%s: two different files are read under this name; pass the policy directory under another path (its absolute path, say)", m.file))
			continue
		}
		named[m.file] = true
		kept = append(kept, m)
	}
	return kept, problems
}

// packageOf is a module's package as Rego source names it: bailiff.rbac.wildcards.
func packageOf(m module) string {
	return strings.TrimPrefix(m.parsed.Package.Path.String(), "data.")
}

// LoadError lists everything wrong with a policy set, each problem as
// "file:row:col: message".
type LoadError struct {
	Problems []string
}

func (e *LoadError) Error() string {
	return "policy set rejected:\n  " + strings.Join(e.Problems, "\n  ")
}

// formatErrors turns OPA's errors into "file:row:col: message" lines.
func formatErrors(err error) []string {
	astErrs, ok := err.(ast.Errors)
	if !ok {
		return []string{err.Error()}
	}
	out := make([]string, 0, len(astErrs))
	for _, e := range astErrs {
		if e.Location != nil {
			out = append(out, fmt.Sprintf("%s:%d:%d: %s", e.Location.File, e.Location.Row, e.Location.Col, e.Message))
		} else {
			out = append(out, e.Message)
		}
	}
	return out
}
