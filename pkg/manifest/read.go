package manifest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Stdin is the path that means standard input.
const Stdin = "-"

// Files expands paths into the manifest files to read: a file as given, a directory's
// .yaml, .yml and .json files (recursively, in name order), "-" for standard input.
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if p == Stdin {
			out = append(out, p)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("read manifests: %w", err)
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && isManifestFile(path) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read manifests under %s: %w", p, err)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

func isManifestFile(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// ReadFile decodes one manifest file, or standard input for "-".
func ReadFile(path string, stdin io.Reader) ([]Object, []error) {
	if path == Stdin {
		return Decode("<stdin>", stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, []error{&Error{File: path, Err: err}}
	}
	defer f.Close()
	return Decode(path, f)
}

// ReadAll decodes every file in order; objects keep that order.
func ReadAll(paths []string, stdin io.Reader) ([]Object, []error) {
	var objs []Object
	var errs []error
	for _, p := range paths {
		o, e := ReadFile(p, stdin)
		objs = append(objs, o...)
		errs = append(errs, e...)
	}
	return objs, errs
}
