package input

import "github.com/open-policy-agent/opa/v1/ast"

// Lookup returns the value under keys in v, or nil when a key is missing or a value on
// the way is not an object.
func Lookup(v ast.Value, keys ...string) ast.Value {
	for _, k := range keys {
		obj, ok := v.(ast.Object)
		if !ok {
			return nil
		}
		t := obj.Get(ast.InternedTerm(k))
		if t == nil {
			return nil
		}
		v = t.Value
	}
	return v
}

// LookupString returns the string under keys in v, or "" when there is none.
func LookupString(v ast.Value, keys ...string) string {
	s, _ := Lookup(v, keys...).(ast.String)
	return string(s)
}

// LookupArray returns the array under keys in v, or nil when there is none.
func LookupArray(v ast.Value, keys ...string) *ast.Array {
	a, _ := Lookup(v, keys...).(*ast.Array)
	return a
}
