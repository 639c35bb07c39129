package manifest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	return Split([]string{path}, stdin).Decode()
}

// ReadAll decodes every file in order; objects keep that order.
func ReadAll(paths []string, stdin io.Reader) ([]Object, []error) {
	return Split(paths, stdin).Decode()
}

// Documents are manifest files read and cut into documents but not decoded yet, so the
// kinds they declare are known before the costly part.
type Documents struct {
	parts []part
}

// part is what one file holds: an error, a JSON stream, or YAML documents.
type part struct {
	file string
	err  error
	json []byte
	yaml []document
}

// Split reads files in order ("-" for standard input) and cuts YAML streams into
// their documents. What cannot be read is reported by Decode, in its place.
func Split(paths []string, stdin io.Reader) *Documents {
	d := &Documents{}
	for _, p := range paths {
		d.parts = append(d.parts, split(p, stdin))
	}
	return d
}

func split(path string, stdin io.Reader) part {
	var data []byte
	var err error
	if path == Stdin {
		if data, err = io.ReadAll(stdin); err != nil {
			return part{file: "<stdin>", err: fmt.Errorf("read: %w", err)}
		}
		path = "<stdin>"
	} else if data, err = os.ReadFile(path); err != nil { // sized once from the file's length
		return part{file: path, err: err}
	}
	name := path
	if looksLikeJSON(data) {
		return part{file: name, json: data}
	}
	docs, err := splitYAML(data)
	if err != nil {
		return part{file: name, err: err}
	}
	return part{file: name, yaml: docs}
}

// KindHints lists the kinds the documents declare on a top-level "kind:" line, in
// order of first appearance. complete is false when some document's kind cannot be
// told without decoding it (JSON, another layout) or when a document is a List, whose
// items have kinds of their own.
func (d *Documents) KindHints() (kinds []string, complete bool) {
	complete = true
	for _, p := range d.parts {
		if p.json != nil {
			complete = false
		}
		for _, doc := range p.yaml {
			switch {
			case doc.kindHint == "" || strings.HasSuffix(doc.kindHint, "List"):
				complete = false
			case !slices.Contains(kinds, doc.kindHint):
				kinds = append(kinds, doc.kindHint)
			}
		}
	}
	return kinds, complete
}

// Decode decodes every document on every CPU (YAML parsing is most of what reading a
// large manifest costs) and returns the objects in file and stream order, with one
// *Error per unreadable file or broken document.
func (d *Documents) Decode() ([]Object, []error) {
	type job struct {
		part *part
		doc  int // index into part.yaml; -1 for the whole part
	}
	var jobs []job
	for i := range d.parts {
		p := &d.parts[i]
		if p.err != nil || p.json != nil {
			jobs = append(jobs, job{part: p, doc: -1})
			continue
		}
		for j := range p.yaml {
			jobs = append(jobs, job{part: p, doc: j})
		}
	}
	type decoded struct {
		objs []Object
		errs []error
	}
	out := make([]decoded, len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(jobs); i = int(next.Add(1) - 1) {
				j := jobs[i]
				switch {
				case j.part.err != nil:
					out[i].errs = []error{&Error{File: j.part.file, Err: j.part.err}}
				case j.doc < 0:
					out[i].objs, out[i].errs = decodeJSON(j.part.file, j.part.json)
				default:
					out[i].objs, out[i].errs = decodeYAMLDocument(j.part.file, j.part.yaml[j.doc])
				}
			}
		})
	}
	wg.Wait()
	var objs []Object
	var errs []error
	for _, d := range out {
		objs = append(objs, d.objs...)
		errs = append(errs, d.errs...)
	}
	return objs, errs
}
