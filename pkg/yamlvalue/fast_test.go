package yamlvalue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/bailiff/bailiff/test/bench/corpus"
)

// kubernetesValue is what Kubernetes reads from one YAML document: sigs.k8s.io/yaml's
// YAMLToJSON, as kubectl and the API machinery's YAMLOrJSONDecoder use it, decoded with
// UseNumber.
func kubernetesValue(doc []byte) (any, error) {
	j, err := sigsyaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// v3Line is the line of yaml.v3's content node of doc, 0 for an empty document.
func v3Line(doc []byte) (int, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return 0, err
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return 0, nil
	}
	return root.Content[0].Line, nil
}

// reference decodes doc as Kubernetes does (kubernetesValue), with the line of
// yaml.v3's content node; an empty document gives nil and line 0.
func reference(doc []byte) (v any, line int, err error) {
	if v, err = kubernetesValue(doc); err != nil {
		return nil, 0, err
	}
	if line, err = v3Line(doc); err != nil {
		return nil, 0, fmt.Errorf("yaml.v3: %w", err)
	}
	return v, line, nil
}

// sameJSON reports the first difference between two JSON-shaped values, comparing
// numbers by value ("1.0" is "1"); "" when there is none.
func sameJSON(got, want any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%#v, want %#v", got, want)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("no key %q in %#v", k, got)
			}
			if d := sameJSON(gv, wv); d != "" {
				return fmt.Sprintf("%q: %s", k, d)
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || g == nil || len(g) != len(w) {
			return fmt.Sprintf("%#v, want %#v", got, want)
		}
		for i := range w {
			if d := sameJSON(g[i], w[i]); d != "" {
				return fmt.Sprintf("[%d]: %s", i, d)
			}
		}
		return ""
	case json.Number:
		g, ok := got.(json.Number)
		x, okx := new(big.Rat).SetString(string(g))
		y, oky := new(big.Rat).SetString(string(w))
		if !ok || !okx || !oky || x.Cmp(y) != 0 {
			return fmt.Sprintf("%#v, want the number %s", got, w)
		}
		return ""
	}
	if got != want {
		return fmt.Sprintf("%#v, want %#v", got, want)
	}
	return ""
}

// checkAgainstReference fails t when DecodeFast accepts doc but disagrees with the
// reference, and reports whether DecodeFast took the fast path.
func checkAgainstReference(t *testing.T, doc []byte) bool {
	t.Helper()
	got, line, ok := DecodeFast(doc)
	if !ok {
		return false
	}
	want, wantLine, err := reference(doc)
	if err != nil {
		t.Fatalf("DecodeFast accepted %q, which Kubernetes or yaml.v3 refuses: %v", doc, err)
	}
	if d := sameJSON(got, want); d != "" {
		t.Fatalf("DecodeFast(%q) differs from Kubernetes: %s", doc, d)
	}
	if line != wantLine {
		t.Fatalf("DecodeFast(%q): line %d, want %d", doc, line, wantLine)
	}
	return true
}

const deepOK = 100

// fastCases are documents inside the subset: DecodeFast must accept them.
var fastCases = []struct{ name, doc string }{
	{"empty", ""},
	{"blank lines", "\n  \n\n"},
	{"comments only", "# a\n  # b\n\n"},
	{"mapping", "a: 1\nb: two\n"},
	{"no final newline", "a: 1\nb: two"},
	{"nested mappings", "a:\n  b:\n    c: d\n  e: f\ng: h\n"},
	{"indented top level", "# head\n\n   a: 1\n   b:\n     c: 2\n"},
	{"space before colon", "a   : b\n"},
	{"null values", "a:\nb: ~\nc: null\nd: # nothing\ne: Null\nf: NULL\n"},
	{"sequence at the key's indentation", "containers:\n- name: x\n  image: y\n- name: z\nafter: 1\n"},
	{"indented sequence", "a:\n  - x\n  - y\nb: 1\n"},
	{"compact mappings aligned", "a:\n-   name: x\n    image: y\n-   name: z\n"},
	{"empty sequence items", "a:\n-\n- b\n- # c\n"},
	{"item on next line", "a:\n-\n  b: c\n  d: e\n- f\n"},
	{"nested sequence on its own line", "a:\n-\n  - x\n  - y\n"},
	{"key value is sequence inside compact mapping", "a:\n- b:\n  - x\n  - y\n  c: 1\n"},
	{"comments everywhere", "# top\na: 1 # one\n  # indented\nb:   # empty\n  - x # item\n" +
		"# between\n  - y\nc: d#not a comment\n"},
	{"quoted keys", "\"a b\": 1\n'c''d': 2\n\"1\": x\n\"e\\tf\": 3\n\"<<\": m\n"},
	{"plain keys that resolve", "1: a\ntrue: b\nno: c\n0x10: e\n1.5: f\n.inf: g\n-.Inf: h\n.NaN: i\n" +
		"2001-12-14: j\n1e4: k\n0.1234567891: l\n+12: m\n1_000: n\n0777: o\n-0: p\n1e7: q\n"},
	{"YAML 1.1 words as keys", "yes: a\nOFF: b\nyesterday: e\n\"on\": f\nc: {Y: 1, n: 2, ~x: 3}\n"},
	{"colons and hashes in plain scalars", "image: nginx:1.25\nurl: http://x.example/a#frag\nt: 12:30:45\n" +
		"k: a:b:c\n"},
	{"plain scalars with spaces and indicators inside", "a: hello  world  \nb: a [b] {c}, d\nc: -x\nd: a - b\ne: x?y\n" +
		"f: ok 'text'\n"},
	{"resolution", "a: yes\nb: on\nc: 1e3\nd: 0x10\ne: 0o17\nf: 017\ng: +1\nh: .5\n" +
		"i: 1_000\nj: ~\nk: Null\nl: TRUE\no: 2027-01-31\n" +
		"p: No\nq: off\nr: y\n"},
	{"YAML 1.1 booleans", "a: [y, Y, yes, Yes, YES, on, On, ON, true, True, TRUE]\n" +
		"b: [n, N, no, No, NO, off, Off, OFF, false, False, FALSE]\n" +
		"c: [yES, oN, nO, oFF, yeS, Yes.]\nd: YES\ne: n\nf: Off\n"},
	{"YAML 1.1 integers", "a: 0777\nb: 0x1f\nc: 0x1F\nd: 0b11\ne: 1_000\nf: +12\ng: 08\n" +
		"h: 0o17\ni: -0x1f\nj: 0b-1\nk: 0b\nl: 1__0\nm: +_1\nn: -_\no: 0_7\np: 0B11\nq: 0X1F\n"},
	{"YAML 1.1 floats", "a: .5\nb: 1e3\nc: 1.\nd: +.5\ne: -0.0\nf: 1e-7\ng: 1.5e300\n" +
		"h: 123456789.123456789e5\ni: 1e400\nj: .5e400\nk: 1_000.5\nl: 1e+3\nm: .e3\nn: ._5\n" +
		"o: 9007199254740993.0\np: 1E21\nq: 1e20\nr: 0.000001\ns: 0.0000001\n"},
	{"nulls", "a: ~\nb: Null\nc: NULL\nd: null\ne: nULL\nf: ~x\n"},
	{"numbers", "a: 0\nb: -0\nc: 007\nd: 1.0\ne: -1\nf: 9223372036854775807\n" +
		"g: 9223372036854775808\nh: 18446744073709551616\ni: 1e400\nj: -9223372036854775809\n" +
		"k: 0b101\nl: -0b11\nm: 1:20\nn: 1.2.3\no: 10001\n" +
		"p: 123456789012345678\nq: 1234567890123456789\ns: -1_0\n" +
		"t: 0.\nu: -.5e-3\nv: 3e\n"},
	{"quantities", "a: 250m\nb: 256Mi\nc: 1Gi\nd: 1e3\ne: 1E3\nf: 5m30s\ng: 1e\nh: 0x1f\n" +
		"i: 1x\nj: 12ab\nk: 2Ee\nl: 9z\nm: 0m\nn: 1_0m\n"},
	{"booleans", "a: true\nb: True\nc: TRUE\nd: false\ne: False\nf: FALSE\ng: tRUE\nh: t\n"},
	{"timestamps stay strings", "a: 2027-01-31\nb: 2001-12-14t21:59:43.10-05:00\n" +
		"c: 2001-12-14 21:59:43.10\nd: 2001-12-14T21:59:43Z\ne: 2001-1-2\n"},
	{"quoted words stay strings", "a: \"yes\"\nb: 'on'\nc: \"0777\"\nd: '1e3'\ne: \".inf\"\nf: [\"y\", 'n']\n"},
	{"single quotes", "a: 'it''s'\nb: ''\nc: '  spaced  '\nd: 'x # y'\ne: '\\n'\n"},
	{"double quotes", "a: \"x\\\\y\\\"z/\"\nb: \"\\n\\t\\r\\0\\b\"\nc: \"\\u00e9\\u4E2D\"\n" +
		"d: \"\"\ne: \"tab\there\"\nf: \"1\"\n"},
	{"quoted then comment", "a: \"x\" # c\nb: 'y'   # d\n"},
	{"unicode", "名前: 値\nemoji: 🙂\nb: café\n"},
	{"flow sequences", "a: [x, y]\nb: []\nc: [ 1 , \"2\" , '3' ]\nd: [a b, c]\n" +
		"e: [http://x/y]\nf: [-1, -x]\n"},
	{"flow mappings", "a: {app: web, tier: \"x\"}\nb: {}\nc: { x: 1 }\nd: {\"k\":\"v\", 'q': 2}\n"},
	{"nested flow", "a: [{name: x, value: \"1\"}, [b, [c]], {}]\nb: {m: {n: [o]}}\n"},
	{"flow in sequences", "a:\n- [x, y]\n- {b: c}\n- \"q\"\n"},
	{"top-level flow mapping", "# c\n{apiVersion: v1, kind: List, items: []}\n"},
	{"compact JSON", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"a\":\"b\"}}"},
	{"literal", "a: |\n  line 1\n  line 2\nb: 1\n"},
	{"literal strip", "a: |-\n  x\n  y\n\n\nb: 1\n"},
	{"literal keep", "a: |+\n  x\n\n\nb: 1\n"},
	{"literal keep at end", "a: |+\n  x\n\n"},
	{"literal clip with blank lines inside", "a: |\n  x\n\n    indented\n  # not a comment\n\n\nb: 1\n"},
	{"literal leading blank lines", "a: |\n\n\n  x\n"},
	{"literal deeper indentation", "a: |\n      x\n        y\n      z\n"},
	{"literal with header comment", "a: | # comment\n  x\n"},
	{"literal with tabs in content", "a: |\n  x\ty\n  \tz\n"},
	{"literal with trailing spaces", "a: |\n  x   \n     \n  y\n"},
	{"literal empty", "a: |\nb: |-\nc: |+\n\nd: 1\n"},
	{"literal at end without newline", "a: |\n  x"},
	{"literal header at end", "a: |"},
	{"literal then less indented comment", "a: |\n    x\n  # comment\nb: 1\n"},
	{"literal in sequence", "a:\n- |\n  x\n- |-\n    y\n- b\n"},
	{"literal in compact mapping", "a:\n- b: |\n    x\n  c: 1\n"},
	{"folded", "a: >\n  one\n  two\n\n  three\nb: 1\n"},
	{"folded strip and keep", "a: >-\n  one\n  two\n\nb: >+\n  x\n  y\n\n\nc: 1\n"},
	{"folded more indented", "a: >\n  one\n    more\n  two\n\n    more2\n\n  three\n"},
	{"folded leading blank lines", "a: >\n\n  one\n  two\n"},
	{"folded trailing spaces", "a: >\n  one  \n  two\n   \n  three\n"},
	{"folded tab lines", "a: >\n  one\n  \ttab\n  two\n"},
	{"quoted flow keys", "a: {\"b\" :c, 'd':e, \"f\": [g]}\n"},
	{"quoted first key of compact mapping", "a:\n- \"b c\": 1\n  d: 2\n-    e: 3\n     f: 4\n"},
	{"dash then spaces", "a:\n-   \n- b\n"},
	{"keys with indicators inside", "-a: 1\na-b: 2\na.b/c: 3\nx?: 4\n.hidden: 5\n"},
	{"dot and tilde words", "a: .hidden\nb: ~x\nc: .5\nd: .\ne: .e1\n"},
	{"flow plain scalars", "a: [-a, a b, 'c d', .5, ~, null, \"x, y\", é]\nb: {a b: c d}\n"},
	{"escapes giving control characters", "a: \"\\0\\u0001\\b\"\n"},
	{"trailing spaces after values", "a: \"x\"   \nb: [c]  \nc: d   \n"},
	{"top-level flow mapping with comments", "# a\n  {a: 1}   # b\n# c\n\n"},
	{"literal ending at a less indented key", "a:\n  b: |\n    x\n  c: 1\nd: 2\n"},
	{"block scalar in deeper sequence", "a:\n  - b:\n      - |\n        x\n        y\n      - z\n"},
	{"deep nesting", strings.Repeat("a:\n", 1) + nested(deepOK)},
	{"deep flow", "a: " + strings.Repeat("[", deepOK) + strings.Repeat("]", deepOK) + "\n"},
}

// nested gives n levels of block mappings.
func nested(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat(" ", i+1) + "k:\n")
	}
	b.WriteString(strings.Repeat(" ", n+1) + "k: v\n")
	return b.String()
}

// slowCases leave the subset or are not valid YAML: DecodeFast must refuse them.
var slowCases = []struct{ name, doc string }{
	{"unclosed top-level flow mapping", "{"},
	{"unclosed flow mapping after a key", "a: {b: 1, "},
	{"anchor and alias", "a: &x 1\nb: *x\n"},
	{"anchor on mapping", "a: &x\n  b: 1\n"},
	{"tag", "a: !!str 1\n"},
	{"local tag", "a: !foo x\n"},
	{"merge key", "base: {a: 1}\nuse:\n  <<: {b: 2}\n"},
	{"multi-line plain", "a: b\n  c\n"},
	{"multi-line plain after blank", "a: b\n\n  c\n"},
	{"multi-line plain in sequence", "a:\n- b\n  c\n"},
	{"multi-line double quoted", "a: \"b\n  c\"\n"},
	{"multi-line single quoted", "a: 'b\n  c'\n"},
	{"escaped line break", "a: \"b\\\n  c\"\n"},
	{"tab indentation", "a:\n\tb: 1\n"},
	{"tab after colon", "a:\tb\n"},
	{"tab in plain", "a: b\tc\n"},
	{"complex key", "? a\n: b\n"},
	{"directive", "%YAML 1.2\na: 1\n"},
	{"document end", "a: 1\n...\n"},
	{"document start inside", "a: 1\n---\nb: 2\n"},
	{"duplicate keys", "a: 1\na: 2\n"},
	{"keys that become the same JSON key", "1: a\n\"1\": b\n"},
	{"booleans written twice as keys", "yes: a\ntrue: b\n"},
	{"null keys", "~: a\n"},
	{"null keys written out", "Null: a\n"},
	{"null flow keys", "a: {null: b}\n"},
	{"a key beyond int64", "9223372036854775808: a\n"},
	{"NaN", "a: .NaN\n"},
	{"infinity", "a: [1, .inf]\n"},
	{"negative infinity", "a: {b: -.Inf}\n"},
	{"duplicate flow keys", "a: {b: 1, b: 2}\n"},
	{"top-level scalar", "hello\n"},
	{"top-level sequence", "- a\n- b\n"},
	{"byte order mark", "\ufeffa: 1\n"},
	{"carriage return", "a: 1\r\nb: 2\r\n"},
	{"explicit indentation", "a: |2\n   x\n"},
	{"flow over lines", "a: [b,\n  c]\n"},
	{"flow mapping over lines", "a: {b: 1,\n  c: 2}\n"},
	{"nested compact sequence", "a:\n- - x\n"},
	{"unsupported escape", "a: \"\\x41\"\n"},
	{"escaped slash, which yaml.v3 refuses", "a: \"\\/\"\n"},
	{"long escape", "a: \"\\U0001F600\"\n"},
	{"surrogate escape", "a: \"\\ud800\"\n"},
	{"mapping in value", "a: b: c\n"},
	{"unclosed flow", "a: [b\n"},
	{"sequence after value", "a: 1\n- b\n"},
	{"more indented key", "a: 1\n  b: 2\n"},
	{"plain value on its own line", "a:\n  b\n"},
	{"trailing comma", "a: [b, c,]\n"},
	{"empty flow value", "a: {b: }\n"},
	{"flow colon without space", "a: {b:c}\n"},
	{"dash alone", "a: -\n"},
	{"question mark value", "a: ?x\n"},
	{"too deep", "a:\n" + nested(300)},
	{"too deep flow", "a: " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "\n"},
	{"long key", strings.Repeat("k", 1100) + ": v\n"},
	{"control character", "a: b\x01\n"},
	{"invalid UTF-8", "a: \xff\n"},
	{"line separator", "a: b\u2028c\n"},
	{"comment without space", "a: \"b\"#c\n"},
	{"block scalar header text", "a: | x\n  y\n"},
	{"less indented block scalar", "a:\n  b: |\n   x\n  y\n"},
	{"tab indentation in block scalar", "a: |\n\tx\n"},
	{"blank line with a tab", "a: 1\n \t\nb: 2\n"},
	{"content after the top-level mapping", "  a: 1\nb: 2\n"},
	{"leading blank line more indented than content", "a: |\n      \n  x\n"},
}

func TestDecodeFastSubset(t *testing.T) {
	for _, tc := range fastCases {
		t.Run(tc.name, func(t *testing.T) {
			if !checkAgainstReference(t, []byte(tc.doc)) {
				_, _, err := reference([]byte(tc.doc))
				t.Fatalf("DecodeFast refused %q (yaml.v3: %v)", tc.doc, err)
			}
		})
	}
}

func TestDecodeFastFallsBack(t *testing.T) {
	for _, tc := range slowCases {
		t.Run(tc.name, func(t *testing.T) {
			if checkAgainstReference(t, []byte(tc.doc)) {
				t.Fatalf("DecodeFast accepted %q, which is outside the subset", tc.doc)
			}
		})
	}
}

// realDocuments gives the benchmark corpus and every example manifest, one document each.
func realDocuments(t testing.TB) map[string]string {
	docs := map[string]string{}
	for i := range 10 {
		docs[fmt.Sprintf("corpus.Object(%d)", i)] = corpus.Object(i)
	}
	files, err := filepath.Glob("../../test/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	separator := regexp.MustCompile(`(?m)^---.*\n`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range separator.Split(string(data), -1) {
			docs[fmt.Sprintf("%s#%d", filepath.Base(f), i)] = doc
		}
	}
	return docs
}

func TestDecodeFastRealManifests(t *testing.T) {
	for name, doc := range realDocuments(t) {
		t.Run(name, func(t *testing.T) {
			if !checkAgainstReference(t, []byte(doc)) {
				t.Errorf("fell back to yaml.v3:\n%s", doc)
			}
		})
	}
}

// k8sCases are realistic shapes the fast path must take.
var k8sCases = map[string]string{
	"pod with probes and env": `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app.kubernetes.io/name: web
  annotations:
    prometheus.io/scrape: "true"
spec:
  containers:
  - name: web
    image: "registry.example.com/web@sha256:0123abcd"
    args: ["--port=8080", --verbose]
    env:
    - name: MODE
      value: production
    - name: POD_IP
      valueFrom:
        fieldRef: {fieldPath: status.podIP}
    - name: EMPTY
      value: ""
    livenessProbe:
      httpGet:
        path: /healthz
        port: 8080
      initialDelaySeconds: 5
      periodSeconds: 10
    readinessProbe:
      exec:
        command:
        - sh
        - -c
        - test -f /tmp/ready
    resources:
      limits: {cpu: "1", memory: 1Gi}
  tolerations: []
`,
	"configmap with scripts": `apiVersion: v1
kind: ConfigMap
metadata:
  name: scripts
data:
  run.sh: |
    #!/bin/sh
    set -eu

    if [ -n "$X" ]; then
      echo "x: $X" # keep
    fi
  motd: >
    Welcome to the
    cluster.

    Be nice.
  app.properties: |-
    a=1
    b=2
  nginx.conf: |+
    server {
    	listen 80;
    }

`,
	"role": `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules:
- apiGroups: ["", apps]
  resources: [pods, deployments]
  verbs: [get, list, watch]
- nonResourceURLs: ["/metrics"]
  verbs: ["get"]
`,
	"service": `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: ClusterIP
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: 8080
      protocol: TCP
`,
}

func TestDecodeFastKubernetesShapes(t *testing.T) {
	for name, doc := range k8sCases {
		t.Run(name, func(t *testing.T) {
			if !checkAgainstReference(t, []byte(doc)) {
				t.Errorf("fell back to yaml.v3")
			}
		})
	}
}

// fragments are lines that TestDecodeFastCombinations strings together.
var fragments = []string{
	"a: 1", "  b: x", "a:", "  a:", "- c", "  - d", "-", "  -", "- e: f", "  g: h", "    i: j",
	"k: |", "l: >-", "- |+", "  - >", "  m", "    n", "   o", "  \tp", "", "   ", "# q", "  # r",
	"s: [t, {u: v}]", "w: 'x''y'", "\"z\": \"\\u00e9\"", "    - y", "aa: bb # cc", "  dd: ee:ff",
}

// TestDecodeFastCombinations checks every document of up to three fragment lines, and a
// fixed sample of longer ones, against the reference.
func TestDecodeFastCombinations(t *testing.T) {
	n, fast, total := len(fragments), 0, 0
	check := func(idx []int) {
		var b strings.Builder
		for _, i := range idx {
			b.WriteString(fragments[i])
			b.WriteByte('\n')
		}
		total++
		if checkAgainstReference(t, []byte(b.String())) {
			fast++
		}
	}
	for i := range n {
		for j := range n {
			for k := range n {
				check([]int{i, j, k})
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		idx := make([]int, 4+r.IntN(5))
		for i := range idx {
			idx[i] = r.IntN(n)
		}
		check(idx)
	}
	t.Logf("%d of %d documents took the fast path", fast, total)
}

// TestDecodeFastDamaged checks every prefix of the table's documents, and each with one
// byte replaced by a character that matters to YAML, against the reference.
func TestDecodeFastDamaged(t *testing.T) {
	if testing.Short() {
		t.Skip("checks thousands of documents")
	}
	var docs []string
	for _, tc := range fastCases {
		docs = append(docs, tc.doc)
	}
	for _, tc := range slowCases {
		docs = append(docs, tc.doc)
	}
	for _, doc := range k8sCases {
		docs = append(docs, doc)
	}
	for _, doc := range docs {
		if len(doc) > 2000 {
			continue
		}
		for i := range len(doc) {
			checkAgainstReference(t, []byte(doc[:i]))
			for _, c := range []byte(" \n:-#'\"{}[],|>\t") {
				b := []byte(doc)
				b[i] = c
				checkAgainstReference(t, b)
			}
		}
	}
}

// FuzzDecodeFast checks that DecodeFast never panics and, whenever it takes the fast path,
// agrees with Kubernetes (sigs.k8s.io/yaml) on the value and with yaml.v3 on the line;
// and that DecodeFastValue agrees with DecodeFast and ast.InterfaceToValue.
func FuzzDecodeFast(f *testing.F) {
	for _, tc := range fastCases {
		f.Add([]byte(tc.doc))
	}
	for _, tc := range slowCases {
		f.Add([]byte(tc.doc))
	}
	for _, tc := range valueCases {
		f.Add([]byte(tc.doc))
	}
	for _, tc := range valueSlowCases {
		f.Add([]byte(tc.doc))
	}
	for _, doc := range k8sCases {
		f.Add([]byte(doc))
	}
	for _, doc := range realDocuments(f) {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkAgainstReference(t, doc)
		checkValue(t, doc)
	})
}

// BenchmarkDecode compares the fast path, building Go values or OPA values (directly, or
// through Go values and ast.InterfaceToValue), with yaml.v3 and FromManifestNode on a
// three-container Deployment and on a ConfigMap of block scalars.
func BenchmarkDecode(b *testing.B) {
	docs := []struct{ name, doc string }{
		{"deployment", corpus.Object(1)},
		{"configmap", k8sCases["configmap with scripts"]},
	}
	for _, d := range docs {
		doc := []byte(d.doc)
		b.Run("fast/"+d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, _, ok := DecodeFast(doc); !ok {
					b.Fatal("fell back")
				}
			}
		})
		b.Run("fast-value/"+d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, _, ok := DecodeFastValue(doc); !ok {
					b.Fatal("fell back")
				}
			}
		})
		b.Run("fast+InterfaceToValue/"+d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				x, _, ok := DecodeFast(doc)
				if !ok {
					b.Fatal("fell back")
				}
				if _, err := ast.InterfaceToValue(x); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("yaml.v3/"+d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				var root yaml.Node
				if err := yaml.Unmarshal(doc, &root); err != nil {
					b.Fatal(err)
				}
				if _, err := FromManifestNode(root.Content[0], doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
