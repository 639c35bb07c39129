package yamlvalue

import (
	"encoding/json"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/bailiff/bailiff/pkg/astterm"
)

// smallMapping is the size up to which duplicate keys are found by a linear scan.
const smallMapping = 16

// DecodeFastValue is DecodeFast giving OPA's value form, built directly rather than
// through Go maps: ok and line are DecodeFast's, and v is what ast.InterfaceToValue makes
// of DecodeFast's value (nil when DecodeFast's is nil). Terms of common keys and values,
// true, false, null and small integers are shared, so v must not be modified in place.
func DecodeFastValue(doc []byte) (v ast.Value, line int, ok bool) {
	if !validText(doc) {
		return nil, 0, false
	}
	b := &termBuilder{alloc: astterm.NewAllocator(len(doc) / 16)}
	b.items, b.elems = b.itemBuf[:0], b.elemBuf[:0]
	t, line, ok := decodeFast[*ast.Term, int, int](doc, b)
	if !ok || t == nil {
		return nil, line, ok
	}
	return t.Value, line, true
}

// termBuilder builds the OPA terms of DecodeFastValue, as ast.InterfaceToValue makes them
// of DecodeFast's values, taking terms from chunks and shared ones where it can. The
// pairs and items of open collections wait on stacks, each collection being marked by
// the height of its stack when it was started.
type termBuilder struct {
	alloc astterm.Allocator
	items [][2]*ast.Term // pairs of the open mappings, innermost last
	elems []*ast.Term    // items of the open sequences, innermost last
	// index holds the keys of the open mappings of more than smallMapping pairs.
	index   map[markedKey]struct{}
	itemBuf [32][2]*ast.Term // the first stacks, saving allocations
	elemBuf [16]*ast.Term
}

// markedKey is key k of the mapping marked mark. An inner mapping can have the mark of
// the one holding it (when it is the value of its first key), but their keys never meet
// in the index: the outer one has no pairs until the inner one ends, clearing its keys.
type markedKey struct {
	mark int
	k    string
}

func (b *termBuilder) str(s string) *ast.Term { return b.alloc.String(s) }
func (b *termBuilder) null() *ast.Term        { return ast.InternedNullTerm }
func (b *termBuilder) mapping() int           { return len(b.items) }
func (b *termBuilder) sequence() int          { return len(b.elems) }

func (b *termBuilder) add(s int, v *ast.Term) int {
	b.elems = append(b.elems, v)
	return s
}

func (b *termBuilder) boolean(v bool) *ast.Term {
	if v {
		return ast.InternedBooleanTrue
	}
	return ast.InternedBooleanFalse
}

// number gives the term of the json.Number s as ast.InterfaceToValue makes it: an
// interned one for a small integer, else a number of the same text.
func (b *termBuilder) number(s string) *ast.Term {
	if len(s) <= 3 { // the interned integers are -1 to 512
		if t := ast.InternedIntNumberTermFromString(s); t != nil {
			return t
		}
	}
	return b.alloc.Term(ast.Number(s)) // a decimal integer: no exponent to check
}

// scalar converts one of the rare values that only Scalar resolves.
func (b *termBuilder) scalar(x any) (*ast.Term, error) {
	switch x := x.(type) {
	case string:
		return b.str(x), nil
	case json.Number:
		if t := ast.InternedIntNumberTermFromString(string(x)); t != nil {
			return t, nil
		}
		n, err := ast.NumberChecked(string(x))
		if err != nil {
			return nil, err
		}
		return b.alloc.Term(n), nil
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return nil, err
	}
	return b.alloc.Term(v), nil
}

// put finds duplicate keys by a linear scan of small mappings, and in the index for
// larger ones.
func (b *termBuilder) put(m int, k string, v *ast.Term) bool {
	pairs := b.items[m:]
	if len(pairs) <= smallMapping {
		for _, it := range pairs {
			if string(it[0].Value.(ast.String)) == k {
				return false
			}
		}
	} else if _, dup := b.index[markedKey{m, k}]; dup {
		return false
	}
	b.items = append(b.items, [2]*ast.Term{b.alloc.String(k), v})
	switch n := len(pairs) + 1; {
	case n == smallMapping+1: // from now on, keys are looked up in the index
		if b.index == nil {
			b.index = make(map[markedKey]struct{}, 2*smallMapping)
		}
		for _, it := range b.items[m:] {
			b.index[markedKey{m, string(it[0].Value.(ast.String))}] = struct{}{}
		}
	case n > smallMapping+1:
		b.index[markedKey{m, k}] = struct{}{}
	}
	return true
}

// endMapping makes the object: ast.NewObject copies the pairs, so the stack is reused.
func (b *termBuilder) endMapping(m int) *ast.Term {
	pairs := b.items[m:]
	if len(pairs) > smallMapping {
		for _, it := range pairs {
			delete(b.index, markedKey{m, string(it[0].Value.(ast.String))})
		}
	}
	obj := ast.NewObject(pairs...)
	b.items = b.items[:m]
	return b.alloc.Term(obj)
}

// endSequence makes the array: Array copies the items, so the stack is reused.
func (b *termBuilder) endSequence(s int) *ast.Term {
	arr := b.alloc.Array(b.elems[s:])
	b.elems = b.elems[:s]
	return arr
}
