package yamlvalue

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fromManifest parses doc with yaml.v3 and converts it with FromManifestNode; parsed is
// false when yaml.v3 refuses doc.
func fromManifest(doc []byte) (v any, parsed bool, err error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, false, err
	}
	v, err = FromManifestNode(&root, doc)
	return v, true, err
}

// refusals are the errors FromManifestNode may give for documents Kubernetes reads:
// where Kubernetes keeps either of two values at random, nesting deeper than Bailiff
// follows, a collection as a key, which go-yaml v2 refuses unless it misreads the text
// ("{}: 1" is {} to it), and a tag "!" that may or may not be an empty value's.
var refusals = []string{"are both", "levels deep", "a mapping key must be a plain value", "tag ! belongs"}

// checkManifestNode fails t when FromManifestNode reads doc otherwise than Kubernetes:
// another value, a value where Kubernetes refuses doc, or an error that is not one of
// the refusals where Kubernetes reads it. It reports whether FromManifestNode gave a
// value.
func checkManifestNode(t *testing.T, doc []byte) bool {
	t.Helper()
	got, parsed, err := fromManifest(doc)
	if !parsed {
		return false // refused: yaml.v3 finds it invalid
	}
	want, refErr := kubernetesValue(doc)
	switch {
	case err != nil && refErr != nil:
		return false
	case err != nil:
		var at *LineError
		if !errors.As(err, &at) {
			t.Fatalf("FromManifestNode(%q): %v is not a *LineError", doc, err)
		}
		for _, r := range refusals {
			if strings.Contains(err.Error(), r) {
				return false
			}
		}
		t.Fatalf("FromManifestNode refused %q (%v), which Kubernetes reads as %#v", doc, err, want)
	case refErr != nil && got == nil:
		return false // nothing to read: go-yaml v2 finds fault with comments yaml.v3 skips
	case refErr != nil:
		t.Fatalf("FromManifestNode read %q, which Kubernetes refuses (%v), as %#v", doc, refErr, got)
	}
	if d := sameJSON(got, want); d != "" {
		t.Fatalf("FromManifestNode(%q) differs from Kubernetes: %s", doc, d)
	}
	return true
}

// n is a JSON number in tests.
func n(s string) json.Number { return json.Number(s) }

// kubernetesCases pin how Kubernetes reads YAML 1.1, what FromManifestNode and the fast
// path read, and what they refuse.
var kubernetesCases = []struct {
	name string
	doc  string
	want any
	// err is part of the error FromManifestNode gives, when it refuses doc.
	err string
	// kubeReads marks refused documents that Kubernetes reads nonetheless.
	kubeReads bool
}{
	{name: "yes, on and y are true in every case", doc: "a: [yes, Yes, YES, on, On, ON, y, Y, true, True, TRUE]\n",
		want: map[string]any{"a": []any{true, true, true, true, true, true, true, true, true, true, true}}},
	{name: "no, off and n are false in every case", doc: "a: [no, No, NO, off, Off, OFF, n, N, false, False, FALSE]\n",
		want: map[string]any{"a": []any{false, false, false, false, false, false, false, false, false, false, false}}},
	{name: "mixed-case words are strings", doc: "a: [yES, oN, nO, oFF, tRUE, nULL]\n",
		want: map[string]any{"a": []any{"yES", "oN", "nO", "oFF", "tRUE", "nULL"}}},
	{name: "quoted words are strings", doc: "a: \"yes\"\nb: 'on'\nc: |\n  no\n",
		want: map[string]any{"a": "yes", "b": "on", "c": "no\n"}},
	{name: "integers in YAML 1.1's bases", doc: "a: 0777\nb: 0x1f\nc: 0b11\nd: 1_000\ne: +12\nf: 08\ng: 0o17\nh: -0x1F\n",
		want: map[string]any{"a": n("511"), "b": n("31"), "c": n("3"), "d": n("1000"), "e": n("12"),
			"f": n("8"), "g": n("15"), "h": n("-31")}},
	{name: "floats", doc: "a: .5\nb: 1e3\nc: 1.\nd: -0.0\ne: 1e-7\nf: 1.5\n",
		want: map[string]any{"a": n("0.5"), "b": n("1000"), "c": n("1"), "d": n("-0"), "e": n("1e-7"), "f": n("1.5")}},
	{name: "integers beyond int64", doc: "a: 9223372036854775808\nb: 18446744073709551616\nc: -9223372036854775809\n",
		want: map[string]any{"a": n("9223372036854775808"), "b": n("18446744073709552000"), "c": n("-9223372036854776000")}},
	{name: "a float out of range is a string", doc: "a: 1e400\n", want: map[string]any{"a": "1e400"}},
	{name: "timestamps stay strings", doc: "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\n",
		want: map[string]any{"a": "2001-12-14", "b": "2001-12-14t21:59:43.10-05:00"}},
	{name: "nulls", doc: "a: ~\nb: Null\nc: NULL\nd: null\ne:\n",
		want: map[string]any{"a": nil, "b": nil, "c": nil, "d": nil, "e": nil}},
	{name: "infinity is refused", doc: "a: .inf\n", err: "is not a JSON number"},
	{name: "negative infinity is refused", doc: "a: -.Inf\n", err: "is not a JSON number"},
	{name: "NaN is refused", doc: "a: .NaN\n", err: "is not a JSON number"},
	{name: "keys that are numbers or booleans become their text",
		doc:  "1: a\nyes: b\nOff: c\n0x10: d\n1.5: e\n0.1234567891: f\n1e7: g\n.inf: h\n-.Inf: i\n.NaN: j\n",
		want: map[string]any{"1": "a", "true": "b", "false": "c", "16": "d", "1.5": "e", "0.12345679": "f", "1e+07": "g", ".inf": "h", "-.inf": "i", ".nan": "j"}},
	{name: "on as a key is true", doc: "on: x\n", want: map[string]any{"true": "x"}},
	{name: "a null key is refused", doc: "~: a\n", err: "null mapping key"},
	{name: "a key beyond int64 is refused", doc: "9223372036854775808: a\n", err: "Kubernetes refuses"},
	{name: "a key written twice keeps the last value", doc: "a: 1\na: 2\n", want: map[string]any{"a": n("2")}},
	{name: "true written twice keeps the last value", doc: "yes: a\ntrue: b\n", want: map[string]any{"true": "b"}},
	{name: "1 and \"1\" are refused", doc: "1: a\n\"1\": b\n", err: "are both \"1\"", kubeReads: true},
	{name: "1 and 1.0 are refused", doc: "1: a\n1.0: b\n", err: "are both \"1\"", kubeReads: true},
	{name: "true and \"true\" are refused", doc: "on: a\n'true': b\n", err: "are both \"true\"", kubeReads: true},
	{name: "a merge key overrides the keys before it", doc: "base: &b {x: 1, z: 1}\nuse:\n  x: 2\n  <<: *b\n  z: 3\n",
		want: map[string]any{"base": map[string]any{"x": n("1"), "z": n("1")}, "use": map[string]any{"x": n("1"), "z": n("3")}}},
	{name: "earlier merged mappings win", doc: "a: &a {x: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n",
		want: map[string]any{"a": map[string]any{"x": n("1")}, "b": map[string]any{"x": n("2"), "z": n("2")},
			"c": map[string]any{"x": n("1"), "z": n("2")}}},
	{name: "y is true, as a key too", doc: "x: y\ny: x\n", want: map[string]any{"x": true, "true": "x"}},
	{name: "a quoted << is a key", doc: "\"<<\": {x: 1}\n", want: map[string]any{"<<": map[string]any{"x": n("1")}}},
	{name: "a << tagged ! is a merge key, quoted or not", doc: "a: &a {x: 1}\nb:\n  ! \"<<\": *a\n",
		want: map[string]any{"a": map[string]any{"x": n("1")}, "b": map[string]any{"x": n("1")}}},
	{name: "a merge needs a mapping", doc: "a:\n  <<: 1\n", err: "needs a mapping"},
	{name: "an alias as a key", doc: "a: &k 1\n*k : x\n", want: map[string]any{"a": n("1"), "1": "x"}},
	{name: "!!str keeps the text", doc: "a: !!str 1\nb: !!str yes\n!!str 1: c\n", want: map[string]any{"a": "1", "b": "yes", "1": "c"}},
	{name: "!!int and !!float read quoted text", doc: "a: !!int \"12\"\nb: !!float 1\nc: !!float '1.5'\nd: !!bool \"on\"\n",
		want: map[string]any{"a": n("12"), "b": n("1"), "c": n("1.5"), "d": true}},
	{name: "a tag that does not fit is refused", doc: "a: !!int 1.5\n", err: "cannot decode !!float `1.5` as a !!int"},
	{name: "!!float refuses integers beyond int64", doc: "a: !!float 9223372036854775808\n", err: "as a !!float"},
	{name: "!!timestamp keeps the text", doc: "a: !!timestamp 2001-12-14\n", want: map[string]any{"a": "2001-12-14"}},
	{name: "!!timestamp needs a timestamp", doc: "a: !!timestamp 12\n", err: "as a !!timestamp"},
	{name: "!!null needs a null", doc: "a: !!null x\n", err: "as a !!null"},
	{name: "!!binary decodes base64", doc: "a: !!binary aGVsbG8=\nb: !!binary /w==\n", want: map[string]any{"a": "hello", "b": "\uFFFD"}},
	{name: "other tags keep the text", doc: "a: !foo 12\nb: !!map yes\nc: !!merge x\n", want: map[string]any{"a": "12", "b": "yes", "c": "x"}},
	{name: "the tag ! makes strings", doc: "a: ! 12\nb: ! yes\nc: &x ! on\nd: *x\ne: !\n",
		want: map[string]any{"a": "12", "b": "yes", "c": "on", "d": "on", "e": ""}},
	{name: "the tag ! after an anchor on the next line", doc: "a: &x\n  # c\n  ! 12\n", want: map[string]any{"a": "12"}},
	{name: "an anchored empty value before a key tagged !", doc: "0: &0\n! :", want: map[string]any{"0": nil, "": nil}},
	{name: "an anchored empty value before a key tagged ! with a value", doc: "a: &a\n! 1: 2\n", want: map[string]any{"a": nil, "1": n("2")}},
	{name: "the tag ! in flow collections", doc: "a: [! 1, ! ~]\nb: {! 2: ! 3}\n", want: map[string]any{"a": []any{"1", "~"}, "b": map[string]any{"2": "3"}}},
	{name: "an empty key tagged ! is an empty string", doc: "a:\n! : x\n", want: map[string]any{"a": nil, "": "x"}},
	// yaml.v3 places the empty value of a key with no ':' where the next token starts.
	{name: "an empty value before a tagged key is null", doc: "? a\n!!str b: x\n", want: map[string]any{"a": nil, "b": "x"}},
	{name: "an empty value before a key tagged ! is null", doc: "? a\n! b: x\n", want: map[string]any{"a": nil, "b": "x"}},
	{name: "an empty value before an empty key tagged !", doc: "? a\n! : x\n", want: map[string]any{"a": nil, "": "x"}},
	{name: "an empty value before an anchored key", doc: "? a\n&k ! b: x\n", want: map[string]any{"a": nil, "b": "x"}},
	{name: "an empty value before a comment", doc: "? a\n#!str b: x\n", want: map[string]any{"a": nil}},
	{name: "a tag ! on no node", doc: " ? 0\n!", err: "tag ! belongs", kubeReads: true},
	{name: "a tag ! alone on the line of an empty value", doc: "a:\n  !\n", err: "tag ! belongs", kubeReads: true},
	{name: "an anchor and a tag ! on an empty value", doc: "a: &x !\nb: *x\n", want: map[string]any{"a": "", "b": ""}},
	{name: "the tag ! at the end", doc: "a: !", want: map[string]any{"a": ""}},
	{name: "a tag ! after non-ASCII text", doc: "é: ! 1\nb: ☃ ! 2\n", want: map[string]any{"é": "1", "b": "☃ ! 2"}},
	{name: "an alias of itself is refused", doc: "a: &x [*x]\n", err: "alias of itself"},
	{name: "anchors and aliases", doc: "a: &x {b: yes}\nc: *x\n",
		want: map[string]any{"a": map[string]any{"b": true}, "c": map[string]any{"b": true}}},
}

func TestFromManifestNodeReadsAsKubernetes(t *testing.T) {
	for _, tc := range kubernetesCases {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(tc.doc)
			got, parsed, err := fromManifest(doc)
			if !parsed {
				t.Fatalf("yaml.v3 refuses the document: %v", err)
			}
			ref, refErr := kubernetesValue(doc)
			fast, _, fastOK := DecodeFast(doc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want one saying %q", err, tc.err)
				}
				if refErr == nil && !tc.kubeReads {
					t.Errorf("Kubernetes reads the document, as %#v", ref)
				}
				if fastOK {
					t.Errorf("the fast path reads the document, as %#v", fast)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := sameJSON(got, tc.want); d != "" {
				t.Errorf("FromManifestNode: %s", d)
			}
			if refErr != nil {
				t.Fatalf("Kubernetes refuses the document: %v", refErr)
			}
			if d := sameJSON(ref, tc.want); d != "" {
				t.Errorf("Kubernetes: %s", d)
			}
			if d := sameJSON(fast, tc.want); fastOK && d != "" {
				t.Errorf("DecodeFast: %s", d)
			}
		})
	}
}

// TestFromManifestNodeTables checks every document of the fast path's tests against
// Kubernetes.
func TestFromManifestNodeTables(t *testing.T) {
	for _, table := range [][]struct{ name, doc string }{fastCases, slowCases, valueCases, valueSlowCases} {
		for _, tc := range table {
			t.Run(tc.name, func(t *testing.T) { checkManifestNode(t, []byte(tc.doc)) })
		}
	}
	for name, doc := range k8sCases {
		t.Run(name, func(t *testing.T) {
			if !checkManifestNode(t, []byte(doc)) {
				t.Error("refused")
			}
		})
	}
	for name, doc := range realDocuments(t) {
		t.Run(name, func(t *testing.T) {
			if !checkManifestNode(t, []byte(doc)) {
				t.Error("refused")
			}
		})
	}
}

func TestFromManifestNodeDamaged(t *testing.T) {
	if testing.Short() {
		t.Skip("checks thousands of documents")
	}
	for _, table := range [][]struct{ name, doc string }{fastCases, slowCases, valueCases} {
		for _, tc := range table {
			if len(tc.doc) <= 2000 {
				damaged(tc.doc, func(b []byte) { checkManifestNode(t, b) })
			}
		}
	}
	for _, tc := range kubernetesCases {
		damaged(tc.doc, func(b []byte) { checkManifestNode(t, b) })
	}
	combinations(func(b []byte) { checkManifestNode(t, b) })
}

// tagTokens are the pieces TestFromManifestNodeTagCombinations makes documents of: tags,
// anchors, indicators and line breaks, where yaml.v3 hides the tag "!".
var tagTokens = []string{"a", "b", "1", "yes", "~", "!", "! ", " !", "&x ", "&y", "*x", "? ", "?", ": ", ":",
	"- ", "\n", "\n  ", "  ", "[", "]", "{", "}", ", ", " #c", "<<", "\"q\"", "!!str ", "!t "}

// TestFromManifestNodeTagCombinations checks a fixed sample of documents strung
// together from tagTokens against Kubernetes.
func TestFromManifestNodeTagCombinations(t *testing.T) {
	if testing.Short() {
		t.Skip("checks thousands of documents")
	}
	r := rand.New(rand.NewPCG(3, 4))
	read := 0
	for range 200000 {
		var b strings.Builder
		for range 2 + r.IntN(9) {
			b.WriteString(tagTokens[r.IntN(len(tagTokens))])
		}
		if checkManifestNode(t, []byte(b.String())) {
			read++
		}
	}
	t.Logf("%d documents read as Kubernetes reads them", read)
}

// TestFromManifestNodeErrorLines checks that errors name the line of the offending node.
func TestFromManifestNodeErrorLines(t *testing.T) {
	for doc, line := range map[string]int{
		"a: 1\nb:\n  c: .nan\n": 3,
		"a: 1\n~: 2\n":          2,
		"a: 1\n1: 2\n'1': 3\n":  3,
		"a:\n  - !!int x\n":     2,
	} {
		_, _, err := fromManifest([]byte(doc))
		var at *LineError
		if !errors.As(err, &at) || at.Line != line {
			t.Errorf("%q: error %v, want one at line %d", doc, err, line)
		}
	}
}

// TestFromManifestNodeRefusesExcessiveAliasing checks the guard go-yaml v2 has against
// documents that expand exponentially.
func TestFromManifestNodeRefusesExcessiveAliasing(t *testing.T) {
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 'b', 'a'; i <= 'i'; i, prev = i+1, i {
		doc += string(i) + ": &" + string(i) + " [" + strings.Repeat("*"+string(prev)+", ", 9) + "*" + string(prev) + "]\n"
	}
	if _, refErr := kubernetesValue([]byte(doc)); refErr == nil || !strings.Contains(refErr.Error(), "excessive aliasing") {
		t.Fatalf("Kubernetes: %v", refErr)
	}
	_, _, err := fromManifest([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Fatalf("error %v, want excessive aliasing", err)
	}
}

func TestJSONFloatIsEncodingJSONs(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.5, 1e-7, 1e-6, 1e20, 1e21, 1.5e300, -2.5e-300, 123456789.123456789, 1e-9} {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonFloat(f); got != string(want) {
			t.Errorf("jsonFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

// FuzzFromManifestNode checks that FromManifestNode never panics and reads every
// document yaml.v3 parses as Kubernetes does, or refuses it.
func FuzzFromManifestNode(f *testing.F) {
	for _, table := range [][]struct{ name, doc string }{fastCases, slowCases, valueCases, valueSlowCases} {
		for _, tc := range table {
			f.Add([]byte(tc.doc))
		}
	}
	for _, tc := range kubernetesCases {
		f.Add([]byte(tc.doc))
	}
	for _, doc := range k8sCases {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkManifestNode(t, doc)
	})
}
