package ireval

import (
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// length is LenStmt's: the size of a collection, or of a string in runes, as count().
// The planner only asks it of values it checked are collections.
func length(s *instr, t *ast.Term) (int, error) {
	if t == nil {
		return 0, internal(s, "length of an undefined value")
	}
	switch v := t.Value.(type) {
	case *ast.Array:
		return v.Len(), nil
	case ast.Object:
		return v.Len(), nil
	case ast.Set:
		return v.Len(), nil
	case ast.String:
		return utf8.RuneCountInString(string(v)), nil
	default:
		return 0, internal(s, "length of a %s", ast.ValueName(t.Value))
	}
}

// merge is ObjectMergeStmt's: the base document a and the virtual document b at one
// path, merged recursively; an undefined side yields the other. Values that cannot be
// merged (one is not an object, or both define a key with different scalars) are a
// conflict, which topdown reports too.
func merge(s *instr, a, b *ast.Term) (*ast.Term, error) {
	switch {
	case a == nil:
		return b, nil
	case b == nil:
		return a, nil
	}
	ao, aok := a.Value.(ast.Object)
	bo, bok := b.Value.(ast.Object)
	if !aok || !bok {
		return nil, &topdown.Error{Code: topdown.ConflictErr, Location: s.loc, Message: "base and virtual documents cannot be merged"}
	}
	merged, ok := ao.Merge(bo)
	if !ok {
		return nil, &topdown.Error{Code: topdown.ConflictErr, Location: s.loc, Message: "base and virtual documents cannot be merged"}
	}
	return ast.NewTerm(merged), nil
}

// upsert returns orig with value at path, copying every object on the way so that orig
// itself is unchanged; what is not an object on the way is replaced by one.
func upsert(orig *ast.Term, path []*ast.Term, value *ast.Term) *ast.Term {
	if len(path) == 0 {
		return value
	}
	obj := ast.NewObject()
	var child *ast.Term
	if orig != nil {
		if o, ok := orig.Value.(ast.Object); ok {
			o.Foreach(obj.Insert)
			child = o.Get(path[0])
		}
	}
	obj.Insert(path[0], upsert(child, path[1:], value))
	return ast.NewTerm(obj)
}

var opNames = [...]string{
	opFail:             "Fail",
	opArrayAppend:      "ArrayAppendStmt",
	opAssignVar:        "AssignVarStmt",
	opAssignVarOnce:    "AssignVarOnceStmt",
	opBlock:            "BlockStmt",
	opBreak:            "BreakStmt",
	opCall:             "CallStmt",
	opCallBuiltin:      "CallStmt",
	opCallDynamic:      "CallDynamicStmt",
	opDot:              "DotStmt",
	opEqual:            "EqualStmt",
	opIsArray:          "IsArrayStmt",
	opIsDefined:        "IsDefinedStmt",
	opIsObject:         "IsObjectStmt",
	opIsSet:            "IsSetStmt",
	opIsUndefined:      "IsUndefinedStmt",
	opLen:              "LenStmt",
	opConst:            "Const",
	opBuildArray:       "BuildArray",
	opBuildObject:      "BuildObject",
	opBuildSet:         "BuildSet",
	opMakeArray:        "MakeArrayStmt",
	opMakeObject:       "MakeObjectStmt",
	opMakeSet:          "MakeSetStmt",
	opNot:              "NotStmt",
	opNotEqual:         "NotEqualStmt",
	opObjectInsert:     "ObjectInsertStmt",
	opObjectInsertOnce: "ObjectInsertOnceStmt",
	opObjectMerge:      "ObjectMergeStmt",
	opResetLocal:       "ResetLocalStmt",
	opResultSetAdd:     "ResultSetAddStmt",
	opScan:             "ScanStmt",
	opSetAdd:           "SetAddStmt",
	opWith:             "WithStmt",
}

func (o opcode) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "unknown"
}

// thaw returns a collection the program made constant as a copy of its own, for a
// statement to change.
func thaw(t *ast.Term) *ast.Term {
	switch v := t.Value.(type) {
	case *ast.Array:
		elems := make([]*ast.Term, v.Len())
		for i := range elems {
			elems[i] = v.Elem(i)
		}
		return ast.NewTerm(ast.NewArray(elems...))
	case ast.Set:
		return ast.NewTerm(ast.NewSet(v.Slice()...))
	case ast.Object:
		obj := ast.NewObject()
		v.Foreach(obj.Insert)
		return ast.NewTerm(obj)
	}
	return t
}
