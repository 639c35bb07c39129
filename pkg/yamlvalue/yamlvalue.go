// Package yamlvalue turns YAML into the JSON-shaped Go values Kubernetes and policies
// use (map[string]any, []any, string, bool, json.Number, float64, nil).
//
// Manifests are read as Kubernetes reads them: FromManifestNode, DecodeFast and
// DecodeFastValue give what sigs.k8s.io/yaml, which kubectl and the API machinery use,
// makes of the text, YAML 1.1's scalars included (yes and on are true, 0777 is octal).
// FromNode reads Bailiff's own files by YAML 1.2's rules, as yaml.v3 resolves scalars:
// timestamps stay strings, integers stay exact (json.Number), and anchors and merge keys
// are resolved.
package yamlvalue

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 256

// FromNode converts a YAML node (a document or any node in it) to a JSON-shaped value,
// resolving scalars as yaml.v3 does (YAML 1.2). Manifests need FromManifestNode.
func FromNode(n *yaml.Node) (any, error) {
	return convert(n, 0)
}

func convert(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nested more than %d levels deep", n.Line, maxDepth)
	}
	switch n.Kind {
	case 0: // an empty input decodes to a zero node
		return nil, nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return convert(n.Content[0], depth+1)
	case yaml.AliasNode:
		return convert(n.Alias, depth+1)
	case yaml.MappingNode:
		return convertMapping(n, depth)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.ScalarNode:
		return Scalar(n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func convertMapping(n *yaml.Node, depth int) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.ScalarNode && key.Tag == "!!merge" {
			if err := mergeInto(out, val, depth); err != nil {
				return nil, err
			}
			continue
		}
		if key.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a mapping key must be a plain value", key.Line)
		}
		v, err := convert(val, depth+1)
		if err != nil {
			return nil, err
		}
		out[key.Value] = v
	}
	return out, nil
}

// mergeInto applies a YAML merge key ("<<: *base"): keys already set win.
func mergeInto(out map[string]any, val *yaml.Node, depth int) error {
	sources := []*yaml.Node{val}
	if val.Kind == yaml.SequenceNode {
		sources = val.Content
	}
	for _, src := range sources {
		v, err := convert(src, depth+1)
		if err != nil {
			return err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("line %d: a merge key (<<) needs a mapping", src.Line)
		}
		for k, x := range m {
			if _, set := out[k]; !set {
				out[k] = x
			}
		}
	}
	return nil
}

// Scalar converts one scalar node by its resolved tag.
func Scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return json.Number(strconv.FormatInt(i, 10)), nil
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return json.Number(strconv.FormatUint(u, 10)), nil
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("line %d: %q is not a number", n.Line, n.Value)
		}
		return f, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return n.Value, nil // JSON has no infinity or NaN; keep what was written
		}
		return f, nil
	default:
		return n.Value, nil
	}
}
