package yamlvalue

import (
	"encoding/json"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestFromNode(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want any
	}{
		{"timestamps stay strings", "expires: 2027-01-31", map[string]any{"expires": "2027-01-31"}},
		{"integers stay exact", "n: 9007199254740993", map[string]any{"n": json.Number("9007199254740993")}},
		{"hex integers are numbers", "n: 0x10", map[string]any{"n": json.Number("16")}},
		{"yes is a string in YAML 1.2", "v: yes", map[string]any{"v": "yes"}},
		{"booleans and nulls", "a: true\nb: ~", map[string]any{"a": true, "b": nil}},
		{"floats", "f: 1.5", map[string]any{"f": 1.5}},
		{"infinity is kept as written", "f: .inf", map[string]any{"f": ".inf"}},
		{"anchors and merge keys resolve, own keys win", "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3",
			map[string]any{"base": map[string]any{"x": json.Number("1"), "y": json.Number("2")}, "use": map[string]any{"x": json.Number("1"), "y": json.Number("3")}}},
		{"empty document is nil", "", nil},
		{"sequences", "- a\n- 1", []any{"a", json.Number("1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			got, err := FromNode(&doc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestFromNodeRejectsComplexKeys(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("? [a, b]\n: c"), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := FromNode(&doc); err == nil {
		t.Fatal("want an error for a sequence used as a key")
	}
}
