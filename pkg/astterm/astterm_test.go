package astterm

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestCommon(t *testing.T) {
	tests := []struct {
		s      string
		common bool
	}{
		{"", true},
		{"apiVersion", true},
		{"rbac.authorization.k8s.io/v1", true},
		{"250m", true},
		{"*", true},
		{"my-app", false},
		{"APIVERSION", false},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			c := Common(tt.s)
			if (c != nil) != tt.common {
				t.Fatalf("Common(%q) = %v, want common: %v", tt.s, c, tt.common)
			}
			var a Allocator
			for _, term := range []*ast.Term{a.String(tt.s), a.StringBytes([]byte(tt.s))} {
				if term.Value.Compare(ast.String(tt.s)) != 0 {
					t.Errorf("term %v, want %q", term, tt.s)
				}
				if shared := term == c; shared != tt.common {
					t.Errorf("term of %q shared: %v, want %v", tt.s, shared, tt.common)
				}
			}
		})
	}
}

func TestNewTable(t *testing.T) {
	table := NewTable("a", "name")
	if len(table) != 3 || table[""] == nil || table["a"].Value.Compare(ast.String("a")) != 0 {
		t.Fatalf("NewTable(a, name) = %v", table)
	}
	if table["name"] != ast.InternedTerm("name") {
		t.Errorf("the term of name is not OPA's interned one")
	}
}

func TestAllocatorChunks(t *testing.T) {
	tests := []struct {
		name     string
		expected int
		want     []int // sizes of the first chunks
	}{
		{"zero value", 0, []int{MinChunk, 2 * MinChunk, 4 * MinChunk}},
		{"small", 20, []int{20, 40, 80}},
		{"large", 10000, []int{MaxChunk, MaxChunk}},
		{"capped after doubling", 300, []int{300, MaxChunk, MaxChunk}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAllocator(tt.expected)
			var terms []*ast.Term
			for _, want := range tt.want {
				first := a.Term(ast.Number("1"))
				terms = append(terms, first)
				if got := cap(a.terms) + 1; got != want {
					t.Fatalf("chunk of %d terms, want %d", got, want)
				}
				for range want - 1 {
					terms = append(terms, a.Term(ast.String("x")))
				}
			}
			seen := map[*ast.Term]bool{}
			for _, term := range terms {
				if seen[term] {
					t.Fatalf("term %p handed out twice", term)
				}
				seen[term] = true
			}
		})
	}
}

func TestAllocatorElems(t *testing.T) {
	var a Allocator
	x, y := ast.StringTerm("x"), ast.StringTerm("y")
	stack := []*ast.Term{x, y, x}
	first := a.Elems(stack[:2])
	second := a.Elems(stack[1:])
	stack[0], stack[1] = y, y // the stack is reused: the copies must not change
	if first[0] != x || first[1] != y || second[0] != y || second[1] != x {
		t.Fatalf("Elems = %v, %v; want [x y], [y x]", first, second)
	}
	if cap(first) != 2 {
		t.Errorf("cap %d, want 2: appending would clobber the next slice", cap(first))
	}
	if empty := a.Elems(nil); empty == nil || len(empty) != 0 {
		t.Errorf("Elems(nil) = %#v, want an empty slice", empty)
	}
	big := a.Elems(make([]*ast.Term, 3*elemChunk))
	if len(big) != 3*elemChunk {
		t.Errorf("Elems of %d gives %d", 3*elemChunk, len(big))
	}
	arr := a.Array(stack)
	if want := ast.NewArray(y, y, x); arr.Value.Compare(want) != 0 {
		t.Errorf("Array = %v, want %v", arr, want)
	}
}
