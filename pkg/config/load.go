package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bailiff/bailiff/pkg/yamlvalue"
	"github.com/bailiff/bailiff/policies"
)

// Default returns the configuration Bailiff runs with when no file is given: the
// embedded policies/data.yaml.
func Default() (*Config, error) {
	base, err := defaultValue()
	if err != nil {
		return nil, err
	}
	return fromValue(base)
}

// Load reads a configuration file and lays it over the defaults.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b)
}

// Parse lays a configuration document over the defaults. name is used in errors. Every
// problem found is reported, each naming the field, and the line where known.
func Parse(name string, b []byte) (*Config, error) {
	base, err := defaultValue()
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		line, msg := syntaxErrorLine(b, err)
		return nil, fmt.Errorf("%s:%d: invalid YAML: %s", name, line, msg)
	}
	if doc.Kind == 0 || (len(doc.Content) == 1 && doc.Content[0].ShortTag() == "!!null") {
		return fromValue(base) // an empty file means the defaults
	}
	root := doc.Content[0]
	var problems []error
	checkNode(root, reflect.TypeFor[Config](), "", &problems)
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: invalid configuration:\n%w", name, errors.Join(problems...))
	}
	user, err := yamlvalue.FromNode(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	merged, _ := overlay(base, user, reflect.TypeFor[Config]()).(map[string]any)
	cfg, err := decode(merged)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: invalid configuration:\n%w", name, locate(err, root))
	}
	return cfg, nil
}

// defaultValue reads bailiff.config from the embedded data.yaml.
func defaultValue() (map[string]any, error) {
	b, err := policies.FS.ReadFile(policies.DefaultConfigFile)
	if err != nil {
		return nil, fmt.Errorf("read embedded defaults: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	v, err := yamlvalue.FromNode(&doc)
	if err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	top, _ := v.(map[string]any)
	bailiff, _ := top["bailiff"].(map[string]any)
	cfg, ok := bailiff["config"].(map[string]any)
	if !ok {
		return nil, errors.New("embedded defaults: no bailiff.config mapping")
	}
	return cfg, nil
}

// fromValue decodes a merged JSON-shaped value and validates it.
func fromValue(v map[string]any) (*Config, error) {
	cfg, err := decode(v)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// decode turns a merged JSON-shaped value into a Config, unchecked.
func decode(v map[string]any) (*Config, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("decode configuration: %w", err)
	}
	return &cfg, nil
}

// overlay lays user over base: structs merge key by key, everything else (lists, maps,
// scalars) is replaced whole. A null in user keeps the default.
func overlay(base, user any, t reflect.Type) any {
	if user == nil {
		return base
	}
	um, uok := user.(map[string]any)
	bm, bok := base.(map[string]any)
	if t.Kind() != reflect.Struct || !uok || !bok || isLeafStruct(t) {
		return user
	}
	fields := jsonFields(t)
	out := make(map[string]any, len(bm)+len(um))
	for k, v := range bm {
		out[k] = v
	}
	for k, v := range um {
		f, known := fields[k]
		if !known {
			out[k] = v // checkNode reports unknown keys before any overlay
			continue
		}
		out[k] = overlay(bm[k], v, f.Type)
	}
	return out
}

var (
	dateType     = reflect.TypeFor[Date]()
	quantityType = reflect.TypeFor[Quantity]()
)

func isLeafStruct(t reflect.Type) bool { return t == dateType }

// jsonFields maps a struct's JSON names to its fields.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = f
		}
	}
	return out
}

// fieldError is one problem in a configuration document.
type fieldError struct {
	path string
	line int
	msg  string
}

func (e fieldError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("  %s (line %d): %s", e.path, e.line, e.msg)
	}
	return fmt.Sprintf("  %s: %s", e.path, e.msg)
}

// checkNode checks a YAML node against the Go type it will decode into: every key
// known, every value of the right shape.
func checkNode(n *yaml.Node, t reflect.Type, path string, problems *[]error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // null keeps the default
	}
	bad := func(msg string, args ...any) {
		*problems = append(*problems, fieldError{path: displayPath(path), line: n.Line, msg: fmt.Sprintf(msg, args...)})
	}
	switch {
	case t == dateType:
		if n.Kind != yaml.ScalarNode {
			bad("must be a date written YYYY-MM-DD")
		} else if _, err := time.Parse(dateLayout, n.Value); err != nil {
			bad("%q is not a date written YYYY-MM-DD", n.Value)
		}
	case t == quantityType:
		if n.Kind != yaml.ScalarNode {
			bad("must be a quantity like \"500m\" or \"16Gi\"")
		} else if _, err := resource.ParseQuantity(n.Value); err != nil {
			bad("%q is not a Kubernetes quantity (like 500m, 2, 16Gi)", n.Value)
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("must be a mapping with the keys %s", strings.Join(sortedKeys(jsonFields(t)), ", "))
			return
		}
		fields := jsonFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			f, ok := fields[key.Value]
			if !ok {
				*problems = append(*problems, fieldError{
					path: displayPath(join(path, key.Value)), line: key.Line,
					msg: fmt.Sprintf("unknown field%s; known fields here: %s", suggest(key.Value, fields), strings.Join(sortedKeys(fields), ", ")),
				})
				continue
			}
			checkNode(val, f.Type, join(path, key.Value), problems)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("must be a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNode(n.Content[i+1], t.Elem(), fmt.Sprintf("%s[%s]", path, n.Content[i].Value), problems)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("must be a list")
			return
		}
		for i, item := range n.Content {
			checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), problems)
		}
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			bad("must be a string%s", quoteHint(n))
		}
	case t.Kind() == reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			bad("must be true or false, not %s", describe(n))
		}
	}
}

func quoteHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf(" (write it in quotes: %q)", n.Value)
	}
	return ", not " + describe(n)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func displayPath(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

func sortedKeys(m map[string]reflect.StructField) []string {
	return sortedKeysOf(m)
}

// suggest names the known key closest to a misspelt one.
func suggest(key string, fields map[string]reflect.StructField) string {
	return didYouMean(key, sortedKeys(fields))
}

// didYouMean is ` (did you mean "x"?)` naming the candidate closest to s, or "" when
// none is close.
func didYouMean(s string, candidates []string) string {
	best := closest(s, candidates)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// closest is the candidate nearest to s, ignoring case, when it is near enough to be a
// misspelling of it; "" when none is.
func closest(s string, candidates []string) string {
	best, bestDist := "", len(s)/3+1
	for _, c := range candidates {
		if d := distance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between two short strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
