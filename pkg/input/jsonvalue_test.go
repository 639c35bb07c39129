package input

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"sigs.k8s.io/yaml"

	"github.com/bailiff/bailiff/test/bench/corpus"
)

// reference decodes data as the path ValueFromJSON replaces does: encoding/json with
// UseNumber into any, then ast.InterfaceToValue. json.Valid rejects trailing data, as
// ValueFromJSON does.
func reference(data []byte) (ast.Value, error) {
	if !json.Valid(data) {
		return nil, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	return ast.InterfaceToValue(x)
}

// checkAgainstReference fails t unless ValueFromJSON and reference agree on data.
func checkAgainstReference(t *testing.T, data []byte) (accepted bool) {
	t.Helper()
	got, err := ValueFromJSON(data)
	want, refErr := reference(data)
	switch {
	case err != nil && refErr != nil:
		return false
	case err != nil:
		t.Fatalf("ValueFromJSON(%q) failed: %v; the reference gives %v", data, err, want)
	case refErr != nil:
		t.Fatalf("ValueFromJSON(%q) = %v; the reference fails: %v", data, got, refErr)
	}
	if ast.Compare(got, want) != 0 {
		t.Fatalf("ValueFromJSON(%q) = %v, want %v", data, got, want)
	}
	if err := checkKeys(got); err != nil {
		t.Fatalf("ValueFromJSON(%q): %v", data, err)
	}
	return true
}

// checkKeys reports an object in v whose Len counts a key twice.
func checkKeys(v ast.Value) error {
	var err error
	ast.WalkTerms(v, func(t *ast.Term) bool {
		obj, ok := t.Value.(ast.Object)
		if !ok || err != nil {
			return err != nil
		}
		seen := map[string]bool{}
		for _, k := range obj.Keys() {
			seen[string(k.Value.(ast.String))] = true
		}
		if len(seen) != obj.Len() {
			err = fmt.Errorf("object %v has Len %d but %d distinct keys", obj, obj.Len(), len(seen))
		}
		return false
	})
	return err
}

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
}

var jsonCases = []struct {
	name  string
	in    string
	valid bool
}{
	{"empty", "", false},
	{"only space", " \t\r\n", false},
	{"space around", " \t\r\n1\r\n\t ", true},
	{"form feed is not space", "\f1", false},
	{"nbsp is not space", "\u00a01", false},
	{"bom", "\ufeff1", false},
	{"trailing value", "1 2", false},
	{"trailing garbage", `{"a":1}x`, false},
	{"trailing comma in object", `{"a":1,}`, false},
	{"trailing comma in array", `[1,]`, false},
	{"leading comma", `[,1]`, false},
	{"missing comma", `[1 2]`, false},
	{"missing colon", `{"a" 1}`, false},
	{"unquoted key", `{a:1}`, false},
	{"number key", `{1:1}`, false},
	{"unclosed object", `{"a":1`, false},
	{"unclosed array", `[1`, false},
	{"mismatched", `[1}`, false},
	{"close only", `]`, false},
	{"true", "true", true},
	{"false", "false", true},
	{"null", "null", true},
	{"short literal", "tru", false},
	{"long literal", "truex", false},
	{"capital literal", "True", false},
	{"bad literal", "nul", false},
	{"nan", "NaN", false},
	{"zero", "0", true},
	{"minus zero", "-0", true},
	{"minus one", "-1", true},
	{"small int", "42", true},
	{"interned edge", "512", true},
	{"big int", "123456789012345678901234567890", true},
	{"fraction", "-12.50", true},
	{"exponent", "1E5", true},
	{"exponent signs", "1.5e-7", true},
	{"exponent plus", "2e+10", true},
	{"large exponent", "1e400", true},
	{"out of range exponent", "1e99999", false},
	{"leading zero", "01", false},
	{"minus leading zero", "-01", false},
	{"zero zero", "00", false},
	{"plus", "+1", false},
	{"bare fraction", ".5", false},
	{"bare point", "1.", false},
	{"bare exponent", "1e", false},
	{"bare exponent sign", "1e+", false},
	{"minus only", "-", false},
	{"double minus", "--1", false},
	{"hex", "0x10", false},
	{"number in array", "[0,-0,1.0,1e2,-1]", true},
	{"leading zero in array", "[01]", false},
	{"empty string", `""`, true},
	{"plain string", `"hello"`, true},
	{"utf-8 string", `"héllo, 世界 😀"`, true},
	{"simple escapes", `"\"\\\/\b\f\n\r\t"`, true},
	{"unicode escape", `"\u00e9\u4e16"`, true},
	{"surrogate pair", `"\ud83d\ude00"`, true},
	{"upper hex pair", `"\uD83D\uDE00x"`, true},
	{"lone high surrogate", `"\ud83d"`, true},
	{"lone low surrogate", `"\ude00"`, true},
	{"high then letter", `"\ud83dx"`, true},
	{"high then non-surrogate", `"\ud83d\u0041"`, true},
	{"high high low", `"\ud83d\ud83d\ude00"`, true},
	{"high then bad escape", `"\ud83d\uZZZZ"`, false},
	{"high then short escape", `"\ud83d\u00"`, false},
	{"high then other escape", `"\ud83d\n"`, true},
	{"escaped nul", `"\u0000"`, true},
	{"bad escape", `"\x41"`, false},
	{"single quote escape", `"\'"`, false},
	{"short unicode escape", `"\u00"`, false},
	{"bad hex", `"\u00g0"`, false},
	{"hex prefix in escape", `"\u0x12"`, false},
	{"sign in escape", `"\u+123"`, false},
	{"underscore in escape", `"\u_123"`, false},
	{"high then hex prefix", `"\ud83d\u0xde"`, false},
	{"backslash at end", `"\`, false},
	{"unterminated", `"abc`, false},
	{"raw tab", "\"a\tb\"", false},
	{"raw newline", "\"a\nb\"", false},
	{"raw nul", "\"a\x00b\"", false},
	{"raw del", "\"a\x7fb\"", true},
	{"invalid byte", "\"a\xffb\"", true},
	{"invalid byte after escape", "\"\\n\xff\"", true},
	{"utf-8 surrogate", "\"\xed\xa0\x80\"", true},
	{"truncated utf-8", "\"\xe2\x82\"", true},
	{"overlong utf-8", "\"\xc0\xaf\"", true},
	{"literal replacement char", "\"\xef\xbf\xbd\"", true},
	{"invalid byte in key", "{\"\xff\":1}", true},
	{"empty object", "{}", true},
	{"empty array", "[]", true},
	{"spaced empties", "[ { } , [ ] ]", true},
	{"nested", `{"a":[1,{"b":null,"c":[true,false]}],"d":"e"}`, true},
	{"duplicate key", `{"a":1,"a":2}`, true},
	{"duplicate key apart", `{"a":1,"b":2,"a":3,"c":4,"b":5}`, true},
	{"duplicate escaped key", `{"a":1,"\u0061":2}`, true},
	{"duplicate nested", `{"a":{"x":1,"x":2},"a":{"y":1,"y":{}}}`, true},
	{"duplicate in large object", largeObject(40, 7), true},
	{"large object", largeObject(40, 0), true},
	{"max depth arrays", nested("[", "]", maxJSONDepth), true},
	{"too deep arrays", nested("[", "]", maxJSONDepth+1), false},
	{"max depth objects", nested(`{"a":`, "}", maxJSONDepth), true},
	{"too deep objects", nested(`{"a":`, "}", maxJSONDepth+1), false},
	{"too deep unclosed", strings.Repeat("[", 3*maxJSONDepth), false},
}

// largeObject returns an object with n keys, every dup-th one a repeat, when dup > 0.
func largeObject(n, dup int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		k := i
		if dup > 0 && i%dup == dup-1 {
			k = i / 2
		}
		fmt.Fprintf(&b, `"k%d":%d`, k, i)
	}
	b.WriteString("}")
	return b.String()
}

func TestValueFromJSON(t *testing.T) {
	for _, c := range jsonCases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := reference([]byte(c.in)); (err == nil) != c.valid {
				t.Fatalf("the reference accepts: %v, the table says %v", err == nil, c.valid)
			}
			checkAgainstReference(t, []byte(c.in))
		})
	}
}

func TestValueFromJSONKeepsLastDuplicate(t *testing.T) {
	v, err := ValueFromJSON([]byte(`{"a":1,"b":2,"a":{"c":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	obj := v.(ast.Object)
	if obj.Len() != 2 {
		t.Errorf("Len = %d, want 2", obj.Len())
	}
	if got := obj.Get(ast.StringTerm("a")); got == nil || got.String() != `{"c": 3}` {
		t.Errorf(`a = %v, want {"c": 3}`, got)
	}
}

func TestValueFromJSONErrorOffsets(t *testing.T) {
	for in, want := range map[string]string{
		`{"a": x}`:       "invalid character 'x' looking for beginning of value at offset 6",
		`[1, 2`:          "unexpected end of JSON input at offset 5",
		`"\q"`:           "invalid character 'q' in string escape code at offset 2",
		"[1]  ]":         "invalid character ']' after top-level value at offset 5",
		`{"a":1e999999}`: "json: number 1e999999 at offset 5",
	} {
		_, err := ValueFromJSON([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValueFromJSON(%q) error = %v, want it to contain %q", in, err, want)
		}
	}
}

// realisticObjects returns a Deployment and a Pod from the benchmark corpus, as JSON.
func realisticObjects(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, i := range []int{1, 4} {
		data, err := yaml.YAMLToJSON([]byte(corpus.Object(i)))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

func TestValueFromJSONRealistic(t *testing.T) {
	for _, data := range realisticObjects(t) {
		if !checkAgainstReference(t, data) {
			t.Fatalf("rejected %s", data)
		}
	}
}

// maxFuzzSeed is the size of the largest table case used as a fuzzing seed.
const maxFuzzSeed = 4096

func FuzzValueFromJSON(f *testing.F) {
	for _, c := range jsonCases {
		// The depth-limit cases take long enough per run to stall the fuzzer; shallower
		// nesting stands in for them.
		if len(c.in) <= maxFuzzSeed {
			f.Add([]byte(c.in))
		}
	}
	f.Add([]byte(nested("[", "]", 100)))
	f.Add([]byte(nested(`{"a":`, "}", 100)))
	for _, data := range realisticObjects(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstReference(t, data)
	})
}

func BenchmarkValueFromJSON(b *testing.B) {
	data := realisticObjects(b)[0]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ValueFromJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValueViaMap(b *testing.B) {
	data := realisticObjects(b)[0]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var x map[string]any
		if err := dec.Decode(&x); err != nil {
			b.Fatal(err)
		}
		if _, err := ast.InterfaceToValue(x); err != nil {
			b.Fatal(err)
		}
	}
}
