package yamlvalue

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// checkValue fails t unless DecodeFastValue agrees with DecodeFast followed by
// ast.InterfaceToValue on doc: ok, line, and a value equal under ast.Compare whose every
// node has the Go type of the converted one.
func checkValue(t *testing.T, doc []byte) {
	t.Helper()
	x, wantLine, wantOK := DecodeFast(doc)
	got, line, ok := DecodeFastValue(doc)
	if ok != wantOK || line != wantLine {
		t.Fatalf("DecodeFastValue(%q): ok %v, line %d; DecodeFast gives ok %v, line %d",
			doc, ok, line, wantOK, wantLine)
	}
	if !ok || x == nil {
		if got != nil {
			t.Fatalf("DecodeFastValue(%q) = %v, want nil", doc, got)
		}
		return
	}
	want, err := ast.InterfaceToValue(x)
	if err != nil {
		t.Fatalf("InterfaceToValue(DecodeFast(%q)): %v", doc, err)
	}
	if ast.Compare(got, want) != 0 {
		t.Fatalf("DecodeFastValue(%q)\n got %v\nwant %v", doc, got, want)
	}
	if err := sameForm(got, want); err != nil {
		t.Fatalf("DecodeFastValue(%q): %v", doc, err)
	}
}

// sameForm reports the first node of got whose Go type, or number text, differs from
// want's, or an object whose Len is not its number of keys; got and want compare equal.
func sameForm(got, want ast.Value) error {
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		return fmt.Errorf("%v is a %T, want a %T", got, got, want)
	}
	switch want := want.(type) {
	case ast.Number:
		if got.(ast.Number) != want {
			return fmt.Errorf("number %q, want %q", got, want)
		}
	case *ast.Array:
		got := got.(*ast.Array)
		for i := range want.Len() {
			if err := sameForm(got.Elem(i).Value, want.Elem(i).Value); err != nil {
				return err
			}
		}
	case ast.Object:
		got := got.(ast.Object)
		if keys := got.Keys(); len(keys) != got.Len() || got.Len() != want.Len() {
			return fmt.Errorf("object %v has %d keys and Len %d, want %d", got, len(keys), got.Len(), want.Len())
		}
		var err error
		got.Foreach(func(k, v *ast.Term) {
			if _, isString := k.Value.(ast.String); !isString && err == nil {
				err = fmt.Errorf("key %v is a %T", k, k.Value)
			}
			if err == nil {
				err = sameForm(v.Value, want.Get(k).Value)
			}
		})
		return err
	}
	return nil
}

// damaged gives every prefix of doc, and doc with each byte replaced in turn by each
// character that matters to YAML, as TestDecodeFastDamaged checks them.
func damaged(doc string, yield func([]byte)) {
	for i := range len(doc) {
		yield([]byte(doc[:i]))
		for _, c := range []byte(" \n:-#'\"{}[],|>\t") {
			b := []byte(doc)
			b[i] = c
			yield(b)
		}
	}
}

// combinations gives the documents TestDecodeFastCombinations checks: every one of up to
// three fragment lines, and a fixed sample of longer ones.
func combinations(yield func([]byte)) {
	n := len(fragments)
	join := func(idx ...int) []byte {
		var b strings.Builder
		for _, i := range idx {
			b.WriteString(fragments[i])
			b.WriteByte('\n')
		}
		return []byte(b.String())
	}
	for i := range n {
		for j := range n {
			for k := range n {
				yield(join(i, j, k))
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		idx := make([]int, 4+r.IntN(5))
		for i := range idx {
			idx[i] = r.IntN(n)
		}
		yield(join(idx...))
	}
}

// valueCases are documents whose OPA form needs care: shared terms, interned and
// long numbers, values only resolvePlain resolves, and mappings long enough to find
// duplicate keys through an index.
var valueCases = []struct{ name, doc string }{
	{"common strings", "apiVersion: v1\nkind: Pod\nmetadata: {name: \"\", labels: {app: web}}\n" +
		"spec: {containers: [{name: a, image: b, resources: {limits: {cpu: 250m, memory: 1Gi}}}]}\n"},
	{"interned numbers", "a: [-1, 0, 1, 7, 42, 512, 513, 999, -2, -0, 1000]\n"},
	{"long numbers", "a: 123456789012345678\nb: -123456789012345678\nc: 1234567890123456789\n"},
	{"numbers through resolvePlain", "a: 0x10\nb: 0o17\nc: +1\nd: 1_000\ne: 9223372036854775808\n" +
		"f: 18446744073709551616\ng: 1e3\nh: 1.5\nl: 1e400\nm: 0b101\nn: 0777\no: -1e-7\np: 1e21\n"},
	{"strings through resolvePlain", "a: 2027-01-31\nb: 1:20\nc: 1.2.3\nd: 0.\ne: -x\n"},
	{"YAML 1.1 booleans and keys", "a: [yes, No, on, OFF, y, N]\n1: x\nyes: y\n0x10: z\n1.5: w\n"},
	{"booleans and nulls", "a: true\nb: False\nc: ~\nd:\ne: [null, TRUE, ~]\nf: {x: NULL}\n"},
	{"empty collections", "a: []\nb: {}\nc: [[], {}]\n"},
	{"large mapping", largeMapping(40, 0)},
	{"large flow mapping", "a: {" + flowPairs(30, 0) + "}\n"},
	{"large mapping as first value", "z:\n" + indent(largeMapping(20, 0), "  ") + largeMapping(20, 0)},
	{"large mapping inside a large one", largeMapping(20, 0) + "z:\n" + indent(largeMapping(20, 0), "  ") +
		"y: 1\n"},
	{"large mapping in a sequence", "a:\n-" + indent(largeMapping(20, 0), "  ")[1:] + "- x\n"},
	{"large sequence", "a:\n" + strings.Repeat("- x\n- 1\n- {y: z}\n", 50)},
}

// valueSlowCases are documents DecodeFast refuses that could trip the building of OPA
// values: duplicate keys found through the index, and collections left unfinished.
var valueSlowCases = []struct{ name, doc string }{
	{"duplicate in large mapping", largeMapping(40, 30)},
	{"duplicate at the index threshold", largeMapping(smallMapping+1, smallMapping)},
	{"duplicate just before the threshold", largeMapping(smallMapping, smallMapping-1)},
	{"duplicate in large flow mapping", "a: {" + flowPairs(30, 25) + "}\n"},
	{"duplicate after a large mapping inside a large one", largeMapping(20, 0) + "z:\n" +
		indent(largeMapping(20, 0), "  ") + "k5: 1\n"},
	{"broken large mapping as a value", "a:\n" + indent(largeMapping(20, 0), "  ") + "  x\n"},
	{"broken large mapping as a duplicate key's value", "a: 1\na:\n" +
		indent(largeMapping(20, 0), "  ") + "  x\n"},
	{"broken large mapping in a sequence", "a:\n- " + indent(largeMapping(20, 0), "  ")[2:] + "  x\n"},
	{"broken large flow mapping in a flow sequence", "a: [{" + flowPairs(20, 0) + ", x}, 1]\n"},
}

// largeMapping gives a block mapping of n keys k0..k(n-1), key dup repeating k0 when
// dup > 0.
func largeMapping(n, dup int) string {
	var b strings.Builder
	for i := range n {
		k := i
		if dup > 0 && i == dup {
			k = 0
		}
		fmt.Fprintf(&b, "k%d: %d\n", k, i)
	}
	return b.String()
}

// flowPairs is largeMapping for a flow mapping's pairs.
func flowPairs(n, dup int) string {
	return strings.ReplaceAll(strings.TrimSuffix(largeMapping(n, dup), "\n"), "\n", ", ")
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+prefix) + "\n"
}

func TestDecodeFastValue(t *testing.T) {
	tables := []struct {
		name  string
		cases []struct{ name, doc string }
	}{{"fast", fastCases}, {"slow", slowCases}, {"value", valueCases}, {"value-slow", valueSlowCases}}
	for _, table := range tables {
		for _, tc := range table.cases {
			t.Run(table.name+"/"+tc.name, func(t *testing.T) {
				checkValue(t, []byte(tc.doc))
			})
		}
	}
	for name, doc := range k8sCases {
		t.Run("k8s/"+name, func(t *testing.T) { checkValue(t, []byte(doc)) })
	}
	for name, doc := range realDocuments(t) {
		t.Run("real/"+name, func(t *testing.T) { checkValue(t, []byte(doc)) })
	}
}

// TestDecodeFastValuePaths checks that the value tables take the paths they are meant to.
func TestDecodeFastValuePaths(t *testing.T) {
	for _, table := range []struct {
		cases []struct{ name, doc string }
		ok    bool
	}{{valueCases, true}, {valueSlowCases, false}} {
		for _, tc := range table.cases {
			t.Run(tc.name, func(t *testing.T) {
				if _, _, ok := DecodeFastValue([]byte(tc.doc)); ok != table.ok {
					t.Errorf("ok %v, want %v", ok, table.ok)
				}
			})
		}
	}
}

func TestDecodeFastValueCombinations(t *testing.T) {
	combinations(func(doc []byte) { checkValue(t, doc) })
}

func TestDecodeFastValueDamaged(t *testing.T) {
	if testing.Short() {
		t.Skip("checks thousands of documents")
	}
	var docs []string
	for _, tables := range [][]struct{ name, doc string }{fastCases, slowCases, valueCases, valueSlowCases} {
		for _, tc := range tables {
			docs = append(docs, tc.doc)
		}
	}
	for _, doc := range k8sCases {
		docs = append(docs, doc)
	}
	for _, doc := range docs {
		if len(doc) <= 2000 {
			damaged(doc, func(b []byte) { checkValue(t, b) })
		}
	}
}

// TestDecodeFastValueShared checks that terms of common strings and small numbers are
// shared between documents, and that other terms are not.
func TestDecodeFastValueShared(t *testing.T) {
	doc := []byte("kind: Pod\nname: unusual-name\nn: 3\nm: 1000\n")
	a, _, _ := DecodeFastValue(doc)
	b, _, _ := DecodeFastValue(doc)
	for key, shared := range map[string]bool{"kind": true, "n": true, "name": false, "m": false} {
		k := ast.StringTerm(key)
		if same := a.(ast.Object).Get(k) == b.(ast.Object).Get(k); same != shared {
			t.Errorf("term of %s shared: %v, want %v", key, same, shared)
		}
	}
}
