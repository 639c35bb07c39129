package manifest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func sources(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Source()+" "+o.Kind())
	}
	return out
}

func TestDecodeJSONPutsEachItemAtItsOwnLine(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		want     []string
		wantErrs []string
	}{
		{
			name: "a List with its items on different lines",
			input: `{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
    {
      "apiVersion": "v1",
      "kind": "Service",
      "metadata": {"name": "b"}
    }
    ,

    {"apiVersion": "v1", "kind": "ConfigMap"}
  ]
}
`,
			want: []string{"m.json:5 Pod", "m.json:6 Service", "m.json:13 ConfigMap"},
		},
		{
			name:  "a List whose items come before other keys, with an items key inside an item",
			input: "{\"items\": [\n{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": \"x\"},\n\n{\"apiVersion\": \"v1\", \"kind\": \"Secret\"}],\n\"kind\": \"List\", \"apiVersion\": \"v1\"}\n",
			want:  []string{"m.json:2 List", "m.json:4 Secret"},
		},
		{
			name:     "an array of objects, one of them broken",
			input:    "[\n  {\"apiVersion\": \"v1\", \"kind\": \"Pod\"},\n  \"text\",\n  {\"apiVersion\": \"v1\", \"kind\": \"Secret\"}\n]\n",
			want:     []string{"m.json:2 Pod", "m.json:4 Secret"},
			wantErrs: []string{"m.json:3: value is not a Kubernetes object"},
		},
		{
			name:     "a List in an array, and an item that is not an object",
			input:    "[{\"apiVersion\": \"v1\", \"kind\": \"Namespace\"},\n{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n  7,\n  {\"apiVersion\": \"v1\", \"kind\": \"Pod\"}]}]\n",
			want:     []string{"m.json:1 Namespace", "m.json:4 Pod"},
			wantErrs: []string{"m.json:3: items[0] is not a Kubernetes object"},
		},
		{
			name:  "several values in a stream",
			input: "{\"apiVersion\": \"v1\", \"kind\": \"Pod\"}\n\n{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n{\"apiVersion\": \"v1\", \"kind\": \"Secret\"}]}\n[\n\n{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}]\n",
			want:  []string{"m.json:1 Pod", "m.json:4 Secret", "m.json:7 ConfigMap"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := Decode("m.json", strings.NewReader(tt.input))
			if got := strings.Join(sources(objs), ","); got != strings.Join(tt.want, ",") {
				t.Errorf("objects = %v, want %v", got, tt.want)
			}
			var gotErrs []string
			for _, err := range errs {
				gotErrs = append(gotErrs, err.Error())
			}
			if got := strings.Join(gotErrs, ","); got != strings.Join(tt.wantErrs, ",") {
				t.Errorf("errors = %v, want %v", got, tt.wantErrs)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		want     []string
		wantErrs []string
	}{
		{
			name:  "multi-document YAML keeps each document's line",
			input: "# leading comment\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
			want:  []string{"m.yaml:2 Namespace", "m.yaml:8 Deployment"},
		},
		{
			name:  "a List yields its items at their own lines",
			input: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n",
			want:  []string{"m.yaml:4 Pod", "m.yaml:7 Service"},
		},
		{
			name:     "a broken document is reported with its line and the others are still read",
			input:    "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			want:     []string{"m.yaml:1 Pod", "m.yaml:10 ConfigMap"},
			wantErrs: []string{"m.yaml:8: invalid YAML"},
		},
		{
			name:     "scanner and parser errors both name the right line",
			input:    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n    labels: x\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  labels: {a: b\n",
			wantErrs: []string{"m.yaml:5: invalid YAML: mapping values are not allowed", "m.yaml:10: invalid YAML: did not find expected ',' or '}'"},
		},
		{
			name:     "objects must name their type",
			input:    "metadata: {name: a}\n---\nkind: Pod\n---\napiVersion: v1\n",
			wantErrs: []string{"m.yaml:1: object has no apiVersion and kind", "m.yaml:3: Pod has no apiVersion", "m.yaml:5: object has no kind"},
		},
		{
			name:     "a scalar document is not an object",
			input:    "just text\n",
			wantErrs: []string{"m.yaml:1: document is not a Kubernetes object"},
		},
		{
			name:  "JSON objects, arrays and Lists",
			input: "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}}\n[\n\t{\"apiVersion\": \"v1\", \"kind\": \"Secret\"}\n]\n{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}]}\n",
			want:  []string{"m.yaml:1 Pod", "m.yaml:3 Secret", "m.yaml:5 ConfigMap"},
		},
		{
			name:     "broken JSON names the line",
			input:    "{\"apiVersion\": \"v1\", \"kind\": \"Pod\"}\n{\"apiVersion\": \"v1\",\n \"kind\": }\n",
			want:     []string{"m.yaml:1 Pod"},
			wantErrs: []string{"m.yaml:3: invalid JSON"},
		},
		{
			name:  "comment-only and empty documents are skipped",
			input: "---\n# nothing here\n---\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := Decode("m.yaml", strings.NewReader(tt.input))
			if got := strings.Join(sources(objs), ","); got != strings.Join(tt.want, ",") {
				t.Errorf("objects = %v, want %v", got, tt.want)
			}
			if len(errs) != len(tt.wantErrs) {
				t.Fatalf("errors = %v, want %v", errs, tt.wantErrs)
			}
			for i, err := range errs {
				if !strings.HasPrefix(err.Error(), tt.wantErrs[i]) {
					t.Errorf("error %d = %q, want prefix %q", i, err, tt.wantErrs[i])
				}
				var merr *Error
				if !errors.As(err, &merr) {
					t.Errorf("error %d is not a *manifest.Error", i)
				}
			}
		})
	}
}

func TestFilesExpandsDirectoriesInOrder(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.yaml", "a.yml", "c.json", "notes.txt", "sub/d.yaml", ".git/e.yaml"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Files([]string{dir, "-"})
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range files {
		r, _ := filepath.Rel(dir, f)
		if f == "-" {
			r = "-"
		}
		rel = append(rel, r)
	}
	if got := strings.Join(rel, ","); got != "a.yml,b.yaml,c.json,sub/d.yaml,-" {
		t.Errorf("files = %s", got)
	}
	if _, err := Files([]string{filepath.Join(dir, "missing.yaml")}); err == nil {
		t.Error("a missing path is an error")
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n",
		"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod}\n",
		"---\n---\n",
		"a: &x [*x]\n",
		"{\"apiVersion\": \"v1\", \"kind\": \"Pod\"}",
		"[1, 2, {\"kind\": 3}]",
		"key: [unclosed\n",
		"<<: *missing\n",
		"\t- tab\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := Decode("fuzz.yaml", strings.NewReader(string(data)))
		for _, o := range objs {
			if o.Kind() == "" || o.Line < 1 {
				t.Fatalf("decoded an object without kind or line: %+v", o)
			}
		}
	})
}

func TestKindHints(t *testing.T) {
	tests := []struct {
		name         string
		files        map[string]string
		wantKinds    []string
		wantComplete bool
	}{
		{"every document declares its kind", map[string]string{"a.yaml": "apiVersion: v1\nkind: Pod\n---\nkind: \"Service\" # a comment\napiVersion: v1\n---\nkind: Pod\n"},
			[]string{"Pod", "Service"}, true},
		{"a flow mapping hides its kind", map[string]string{"a.yaml": "kind: Pod\n---\n{kind: Service, apiVersion: v1}\n"}, []string{"Pod"}, false},
		{"a nested kind line is not the document's", map[string]string{"a.yaml": "apiVersion: v1\nmetadata:\n  kind: Pod\n"}, nil, false},
		{"a List's items have kinds of their own", map[string]string{"a.yaml": "apiVersion: v1\nkind: List\nitems: []\n"}, nil, false},
		{"JSON is decoded to be known", map[string]string{"a.json": `{"kind":"Pod","apiVersion":"v1"}`}, nil, false},
		{"comments and empty documents need no kind", map[string]string{"a.yaml": "# nothing\n---\nkind: Role\n"}, []string{"Role"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
			kinds, complete := Split(paths, nil).KindHints()
			if !slices.Equal(kinds, tt.wantKinds) || complete != tt.wantComplete {
				t.Errorf("KindHints() = %v, %v; want %v, %v", kinds, complete, tt.wantKinds, tt.wantComplete)
			}
		})
	}
}

// TestValueWhicheverPath: an object decodes to the same value whether the fast YAML
// path, yaml.v3 (anchors), a List or JSON read it, and Map gives it back in Go form.
func TestValueWhicheverPath(t *testing.T) {
	const fast = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: {app: web, tier: \"1\"}\nspec:\n  containers:\n  - name: c\n    image: nginx:1.27\n    ports: [{containerPort: 80}]\n    resources: {limits: {cpu: 500m, memory: 1.5}}\n  enableServiceLinks: false\n  nodeName: null\n"
	inputs := map[string]string{
		"fast YAML":           fast,
		"yaml.v3 (an anchor)": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: &l {app: web, tier: \"1\"}\nspec:\n  containers:\n  - name: c\n    image: nginx:1.27\n    ports: [{containerPort: 80}]\n    resources: {limits: {cpu: 500m, memory: 1.5}}\n  enableServiceLinks: false\n  nodeName: null\n",
		"a List item":         "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n    labels: {app: web, tier: \"1\"}\n  spec:\n    containers:\n    - name: c\n      image: nginx:1.27\n      ports: [{containerPort: 80}]\n      resources: {limits: {cpu: 500m, memory: 1.5}}\n    enableServiceLinks: false\n    nodeName: null\n",
		"JSON":                `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{"app":"web","tier":"1"}},"spec":{"containers":[{"name":"c","image":"nginx:1.27","ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"500m","memory":1.5}}}],"enableServiceLinks":false,"nodeName":null}}`,
	}
	want := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "a", "labels": map[string]any{"app": "web", "tier": "1"}},
		"spec": map[string]any{
			"containers": []any{map[string]any{
				"name": "c", "image": "nginx:1.27",
				"ports":     []any{map[string]any{"containerPort": json.Number("80")}},
				"resources": map[string]any{"limits": map[string]any{"cpu": "500m", "memory": json.Number("1.5")}},
			}},
			"enableServiceLinks": false, "nodeName": nil,
		},
	}
	reference, errs := Decode("m.yaml", strings.NewReader(fast))
	if len(errs) > 0 || len(reference) != 1 {
		t.Fatalf("decode the fast YAML: %d objects, %v", len(reference), errs)
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			objs, errs := Decode("m.yaml", strings.NewReader(in))
			if len(errs) > 0 || len(objs) != 1 {
				t.Fatalf("%d objects, errors %v", len(objs), errs)
			}
			if objs[0].Value.Compare(reference[0].Value) != 0 {
				t.Errorf("value = %v, want %v", objs[0].Value, reference[0].Value)
			}
			got, err := objs[0].Map()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Map() = %#v, want %#v", got, want)
			}
		})
	}
}
