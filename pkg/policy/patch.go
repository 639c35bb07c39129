package policy

import (
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// MarshalJSON writes a patch as RFC 6902 wants it: value present (even null) exactly
// for the operations that take one.
func (p Patch) MarshalJSON() ([]byte, error) {
	m := map[string]any{"op": p.Op, "path": p.Path}
	switch p.Op {
	case "add", "replace", "test":
		m["value"] = p.Value
	case "move", "copy":
		m["from"] = p.From
	}
	return json.Marshal(m)
}

// JSONPatch encodes patches as one RFC 6902 document, as an AdmissionResponse carries.
func JSONPatch(patches []Patch) ([]byte, error) {
	if patches == nil {
		patches = []Patch{}
	}
	return json.Marshal(patches)
}

// ApplyPatches applies patches to an object and returns the patched copy.
func ApplyPatches(obj map[string]any, patches []Patch) (map[string]any, error) {
	if len(patches) == 0 {
		return obj, nil
	}
	doc, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode object: %w", err)
	}
	raw, err := JSONPatch(patches)
	if err != nil {
		return nil, fmt.Errorf("encode patch: %w", err)
	}
	decoded, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("decode patch: %w", err)
	}
	patched, err := decoded.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("apply patch: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(patched, &out); err != nil {
		return nil, fmt.Errorf("decode patched object: %w", err)
	}
	return out, nil
}
