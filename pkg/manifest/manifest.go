// Package manifest reads Kubernetes manifests, multi-document YAML and JSON, including
// List objects, into objects that remember the file and line they came from. A broken
// document is reported with its file and line and does not hide the others.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"go.yaml.in/yaml/v3"

	"github.com/bailiff/bailiff/pkg/yamlvalue"
)

// MaxDocumentSize bounds one document, as the API server bounds a request.
const MaxDocumentSize = 3 << 20

// Object is one Kubernetes object read from a manifest.
type Object struct {
	File string
	Line int
	// Value is the object in OPA's value form, which policies read: decoded straight
	// into it, never through Go maps. Its terms may be shared with other objects, so
	// it must not be modified in place.
	Value ast.Object
}

// Source is where the object was written: "deploy.yaml:12".
func (o Object) Source() string { return fmt.Sprintf("%s:%d", o.File, o.Line) }

// Kind is the object's kind.
func (o Object) Kind() string { return stringField(o.Value, "kind") }

// Map returns the object in its JSON-shaped Go form (map[string]any, []any, string,
// json.Number, bool, nil), a copy to write out or change.
func (o Object) Map() (map[string]any, error) {
	v, err := ast.JSON(o.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Source(), err)
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// stringField is the string under key in obj, or "" when there is none.
func stringField(obj ast.Object, key string) string {
	if t := obj.Get(ast.InternedTerm(key)); t != nil {
		s, _ := t.Value.(ast.String)
		return string(s)
	}
	return ""
}

// Error is a problem with one document of a manifest.
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Decode reads every object of one manifest. It returns the objects it could read and
// one *Error per broken document.
func Decode(file string, r io.Reader) ([]Object, []error) {
	p := split(Stdin, r)
	p.file = file
	return (&Documents{parts: []part{p}}).Decode()
}

// document is one YAML document and the line of the file it starts on.
type document struct {
	data      []byte
	firstLine int
	// kindHint is the value of the document's top-level "kind:" line, read while
	// splitting; "" when there is none (a flow mapping, an unusual layout).
	kindHint string
}

// kindLine reads a top-level "kind: Value" line: the value when it is a plain word.
func kindLine(line []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("kind:"))
	if !ok {
		return "", false
	}
	if i := bytes.Index(rest, []byte(" #")); i >= 0 {
		rest = rest[:i]
	}
	v := string(bytes.Trim(bytes.TrimSpace(rest), `"'`))
	for _, r := range v {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return "", false
		}
	}
	return v, v != ""
}

// splitYAML cuts a stream at its "---" lines, as kubectl does, remembering where each
// document starts so errors and sources carry the file's line numbers.
func splitYAML(data []byte) ([]document, error) {
	var docs []document
	start, from, line, hint := 1, 0, 0, ""
	flush := func(end, next int) {
		if len(bytes.TrimSpace(data[from:end])) > 0 {
			docs = append(docs, document{data: data[from:end:end], firstLine: start, kindHint: hint})
		}
		start, hint = next, ""
	}
	for off := 0; off < len(data); {
		end, next := len(data), len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end, next = off+i, off+i+1
		}
		line++
		text := data[off:end]
		if len(text) > MaxDocumentSize {
			return nil, fmt.Errorf("line %d: line too long (a line may be at most %d MiB)", line, MaxDocumentSize>>20)
		}
		if isSeparator(text) {
			flush(off, line+1)
			from = next
		} else if k, ok := kindLine(text); ok {
			hint = k
		}
		off = next
	}
	flush(len(data), line+1)
	return docs, nil
}

// isSeparator reports whether a line ends a document: "---" (with anything after a
// space) or "...", as kubectl splits streams.
func isSeparator(line []byte) bool {
	if rest, ok := bytes.CutPrefix(line, []byte("---")); ok {
		return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r' || rest[0] == '\f'
	}
	return bytes.Equal(bytes.TrimRight(line, " \t\r"), []byte("..."))
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func decodeYAMLDocument(file string, doc document) ([]Object, []error) {
	if len(doc.data) > MaxDocumentSize {
		return nil, []error{&Error{File: file, Line: doc.firstLine, Err: fmt.Errorf("document is larger than %d MiB", MaxDocumentSize>>20)}}
	}
	if v, line, ok := yamlvalue.DecodeFastValue(doc.data); ok {
		if v == nil {
			return nil, nil // a document of comments only
		}
		// Lists take the path below, which knows each item's line.
		if obj, ok := v.(ast.Object); ok && !isListKind(stringField(obj, "kind")) {
			line = doc.firstLine + line - 1
			if err := checkObject(obj); err != nil {
				return nil, []error{&Error{File: file, Line: line, Err: err}}
			}
			return []Object{{File: file, Line: line, Value: obj}}, nil
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(doc.data, &root); err != nil {
		line, msg := doc.firstLine, strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			if isParserError(msg) {
				n++
			}
			line = doc.firstLine + n - 1
			msg = strings.TrimSpace(yamlLine.ReplaceAllString(msg, ""))
			msg = strings.TrimPrefix(msg, ": ")
		}
		return nil, []error{&Error{File: file, Line: line, Err: fmt.Errorf("invalid YAML: %s", msg)}}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, nil
	}
	body := root.Content[0]
	if body.ShortTag() == "!!null" {
		return nil, nil // a document of comments only
	}
	line := doc.firstLine + body.Line - 1
	v, err := yamlvalue.FromManifestNode(body, doc.data)
	if err != nil {
		if at := (*yamlvalue.LineError)(nil); errors.As(err, &at) {
			line, err = doc.firstLine+at.Line-1, at.Err
		}
		return nil, []error{&Error{File: file, Line: line, Err: err}}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, []error{&Error{File: file, Line: line, Err: errors.New("document is not a Kubernetes object (a mapping with apiVersion and kind)")}}
	}
	items, isList := obj["items"].([]any)
	if kind, _ := obj["kind"].(string); !isList || !isListKind(kind) {
		o, err := objectOf(obj)
		if err != nil {
			return nil, []error{&Error{File: file, Line: line, Err: err}}
		}
		return []Object{{File: file, Line: line, Value: o}}, nil
	}
	// A List: each item is an object, at its own line.
	itemNodes := listItemNodes(body)
	return listItems(file, items, func(i int) int {
		if i < len(itemNodes) {
			return doc.firstLine + itemNodes[i].Line - 1
		}
		return line
	})
}

// listItems makes an Object of each item of a List, at the line lineOf gives it; an item
// that is not an object is an error naming its index, and the others are still kept.
func listItems(file string, items []any, lineOf func(i int) int) ([]Object, []error) {
	var objs []Object
	var errs []error
	for i, item := range items {
		line := lineOf(i)
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, &Error{File: file, Line: line, Err: fmt.Errorf("items[%d] is not a Kubernetes object", i)})
			continue
		}
		o, err := objectOf(m)
		if err != nil {
			errs = append(errs, &Error{File: file, Line: line, Err: fmt.Errorf("items[%d]: %w", i, err)})
			continue
		}
		objs = append(objs, Object{File: file, Line: line, Value: o})
	}
	return objs, errs
}

// yaml.v3 numbers lines from 1 in scanner errors but from 0 in parser errors (its
// fail() adds one only for scanner errors). These are the parser's messages.
var parserErrors = []string{
	"did not find expected key", "did not find expected node content",
	"did not find expected '-' indicator", "did not find expected ',' or",
	"did not find expected <document start>", "found undefined tag handle",
	"found duplicate %YAML directive", "found incompatible YAML document",
	"found duplicate %TAG directive",
}

func isParserError(msg string) bool {
	for _, p := range parserErrors {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func listItemNodes(list *yaml.Node) []*yaml.Node {
	for i := 0; i+1 < len(list.Content); i += 2 {
		if list.Content[i].Value == "items" && list.Content[i+1].Kind == yaml.SequenceNode {
			return list.Content[i+1].Content
		}
	}
	return nil
}

// isListKind reports whether a kind is a List's ("List", "PodList", ...).
func isListKind(kind string) bool { return strings.HasSuffix(kind, "List") }

// objectOf converts an object decoded into Go maps (the yaml.v3 and JSON paths) to
// OPA's value form and checks it.
func objectOf(m map[string]any) (ast.Object, error) {
	v, err := ast.InterfaceToValue(m)
	if err != nil {
		return nil, err
	}
	obj := v.(ast.Object) // a map converts to an object
	return obj, checkObject(obj)
}

// checkObject makes sure an object names its type.
func checkObject(obj ast.Object) error {
	kind, apiVersion := stringField(obj, "kind"), stringField(obj, "apiVersion")
	switch {
	case kind == "" && apiVersion == "":
		return errors.New("object has no apiVersion and kind")
	case kind == "":
		return errors.New("object has no kind")
	case apiVersion == "":
		return fmt.Errorf("%s has no apiVersion", kind)
	}
	if meta := obj.Get(ast.InternedTerm("metadata")); meta != nil {
		if _, ok := meta.Value.(ast.Object); !ok {
			return fmt.Errorf("%s metadata must be a mapping", kind)
		}
	}
	return nil
}

func looksLikeJSON(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
}

// decodeJSON reads a stream of JSON values: objects, Lists, or arrays of objects. Each
// object is at the line it starts on, an item of a List or array included.
func decodeJSON(file string, data []byte) ([]Object, []error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	lines := lineCounter{data: data}
	var objs []Object
	var errs []error
	for {
		start := skipSpace(data, int(dec.InputOffset()))
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return objs, errs
		}
		if err != nil {
			line := lines.at(start)
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				line = lines.at(int(syn.Offset))
			}
			// The stream cannot resynchronise after a syntax error; keep what was read.
			return objs, append(errs, &Error{File: file, Line: line, Err: fmt.Errorf("invalid JSON: %w", err)})
		}
		values, starts := []any{v}, []int{start}
		if array, ok := v.([]any); ok {
			values, starts = array, elementStarts(data, start)
		}
		// at is the line of starts[i]; should starts ever hold fewer offsets than there
		// are values, the start of the whole value stands in.
		at := func(starts []int, i int) int {
			if i < len(starts) {
				return lines.at(starts[i])
			}
			return lines.at(start)
		}
		for i, value := range values {
			line := at(starts, i)
			obj, ok := value.(map[string]any)
			if !ok {
				errs = append(errs, &Error{File: file, Line: line, Err: errors.New("value is not a Kubernetes object")})
				continue
			}
			if items, ok := obj["items"].([]any); ok {
				if kind, _ := obj["kind"].(string); isListKind(kind) {
					var itemStarts []int
					if i < len(starts) {
						itemStarts = elementStarts(data, itemsStart(data, starts[i]))
					}
					listObjs, listErrs := listItems(file, items, func(j int) int { return at(itemStarts, j) })
					objs, errs = append(objs, listObjs...), append(errs, listErrs...)
					continue
				}
			}
			o, err := objectOf(obj)
			if err != nil {
				errs = append(errs, &Error{File: file, Line: line, Err: err})
				continue
			}
			objs = append(objs, Object{File: file, Line: line, Value: o})
		}
	}
}

// elementStarts is where each element of the JSON array at data[array:] starts. The
// array has decoded already, so it is valid JSON.
func elementStarts(data []byte, array int) []int {
	if array < 0 || array >= len(data) || data[array] != '[' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data[array:]))
	if _, err := dec.Token(); err != nil {
		return nil
	}
	var starts []int
	for dec.More() {
		starts = append(starts, valueStart(data, array+int(dec.InputOffset())))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
	}
	return starts
}

// itemsStart is where the value of the "items" key of the JSON object at data[object:]
// starts: of the last such key, the one decoding keeps; -1 when there is none.
func itemsStart(data []byte, object int) int {
	dec := json.NewDecoder(bytes.NewReader(data[object:]))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return -1
	}
	at := -1
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		if key == "items" {
			at = valueStart(data, object+int(dec.InputOffset()))
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
	}
	return at
}

// valueStart is where the JSON value after offset i starts: past white space and the
// ',' or ':' a json.Decoder leaves unread before a value.
func valueStart(data []byte, i int) int {
	i = skipSpace(data, i)
	if i < len(data) && (data[i] == ',' || data[i] == ':') {
		i = skipSpace(data, i+1)
	}
	return i
}

// lineCounter numbers the lines of offsets into data, counting from where it last
// stopped when offsets grow, as they do while a stream is read: a List of thousands of
// items is not recounted from the start for each.
type lineCounter struct {
	data         []byte
	offset, line int
}

func (c *lineCounter) at(offset int) int {
	offset = min(offset, len(c.data))
	if c.line == 0 || offset < c.offset {
		c.offset, c.line = 0, 1
	}
	c.line += bytes.Count(c.data[c.offset:offset], []byte("\n"))
	c.offset = offset
	return c.line
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}
