package ireval

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
)

// The planner builds every array, object and set literal one statement at a time:
// MakeArrayStmt, then an ArrayAppendStmt per element, each a new ast.Array. Most of
// the library's literals are constants (the path of object.get, the kinds a rule knows)
// and would be built again on every evaluation. So the compiler fuses a literal's
// statements into one that builds it at once from its elements, and, when every
// element is a constant, into the constant itself, made once when compiling.
//
// The elements fused are the element statements that follow the Make statement in its
// block, up to the first statement that uses the local in any other way or overwrites
// an element's local: building the value where the last of them adds its element gives
// the same value, at a point where nothing could have seen it unfinished. A literal
// that a later statement goes on changing is built, never made a constant.

// frozen marks the terms the compiler made constant. They are shared by every
// evaluation: a statement that would change one changes a copy (see thaw).
var frozen = &ast.Location{File: "<ireval constant>"}

// eachLocal calls read, write and change (any may be nil) for the locals one statement
// reads, overwrites and changes in place, leaving out its nested blocks. It reports
// false for a statement it does not know.
func eachLocal(s ir.Stmt, read, write, change func(ir.Local)) bool {
	r := func(o ir.Operand) {
		if l, ok := o.Value.(ir.Local); ok && read != nil {
			read(l)
		}
	}
	rl := func(l ir.Local) {
		if read != nil {
			read(l)
		}
	}
	w := func(l ir.Local) {
		if write != nil {
			write(l)
		}
	}
	c := func(l ir.Local) {
		if change != nil {
			change(l)
		}
	}
	switch s := s.(type) {
	case *ir.ArrayAppendStmt:
		r(s.Value)
		c(s.Array)
	case *ir.AssignIntStmt:
		w(s.Target)
	case *ir.AssignVarStmt:
		r(s.Source)
		w(s.Target)
	case *ir.AssignVarOnceStmt:
		r(s.Source)
		rl(s.Target)
		w(s.Target)
	case *ir.BlockStmt, *ir.BreakStmt, *ir.NopStmt, *ir.NotStmt:
	case *ir.CallStmt:
		for _, a := range s.Args {
			r(a)
		}
		w(s.Result)
	case *ir.CallDynamicStmt:
		for _, a := range s.Args {
			rl(a)
		}
		for _, p := range s.Path {
			r(p)
		}
		w(s.Result)
	case *ir.DotStmt:
		r(s.Source)
		r(s.Key)
		w(s.Target)
	case *ir.EqualStmt:
		r(s.A)
		r(s.B)
	case *ir.NotEqualStmt:
		r(s.A)
		r(s.B)
	case *ir.IsArrayStmt:
		r(s.Source)
	case *ir.IsObjectStmt:
		r(s.Source)
	case *ir.IsSetStmt:
		r(s.Source)
	case *ir.IsDefinedStmt:
		rl(s.Source)
	case *ir.IsUndefinedStmt:
		rl(s.Source)
	case *ir.LenStmt:
		r(s.Source)
		w(s.Target)
	case *ir.MakeArrayStmt:
		w(s.Target)
	case *ir.MakeNullStmt:
		w(s.Target)
	case *ir.MakeNumberIntStmt:
		w(s.Target)
	case *ir.MakeNumberRefStmt:
		w(s.Target)
	case *ir.MakeObjectStmt:
		w(s.Target)
	case *ir.MakeSetStmt:
		w(s.Target)
	case *ir.ObjectInsertStmt:
		r(s.Key)
		r(s.Value)
		c(s.Object)
	case *ir.ObjectInsertOnceStmt:
		r(s.Key)
		r(s.Value)
		c(s.Object)
	case *ir.ObjectMergeStmt:
		rl(s.A)
		rl(s.B)
		w(s.Target)
	case *ir.ResetLocalStmt:
		w(s.Target)
	case *ir.ResultSetAddStmt:
		rl(s.Value)
	case *ir.ReturnLocalStmt:
		rl(s.Source)
	case *ir.ScanStmt:
		rl(s.Source)
		w(s.Key)
		w(s.Value)
	case *ir.SetAddStmt:
		r(s.Value)
		c(s.Set)
	case *ir.WithStmt:
		r(s.Value)
		rl(s.Local)
		w(s.Local)
	default:
		return false
	}
	return true
}

func nestedBlocks(s ir.Stmt) []*ir.Block {
	switch s := s.(type) {
	case *ir.BlockStmt:
		return s.Blocks
	case *ir.ScanStmt:
		return []*ir.Block{s.Block}
	case *ir.NotStmt:
		return []*ir.Block{s.Block}
	case *ir.WithStmt:
		return []*ir.Block{s.Block}
	}
	return nil
}

// touches reports whether a statement, nested blocks included, uses (reads, writes or
// changes) local l, or writes or changes one of the locals in written.
func touches(s ir.Stmt, l ir.Local, written map[ir.Local]bool) bool {
	hit := false
	use := func(x ir.Local) {
		if x == l {
			hit = true
		}
	}
	overwrite := func(x ir.Local) {
		if x == l || written[x] {
			hit = true
		}
	}
	if !eachLocal(s, use, overwrite, overwrite) {
		return true
	}
	for _, b := range nestedBlocks(s) {
		for _, nested := range b.Stmts {
			if hit || touches(nested, l, written) {
				return true
			}
		}
	}
	return hit
}

// literal is a fused literal: the statements at make and at elems (in order) of a
// block become one, at the last of them, or at make when there is no element.
type literal struct {
	op       opcode // opBuildArray, opBuildObject or opBuildSet
	make     int
	elems    []int
	constant bool // may be made a constant: nothing changes the value after
}

// findLiterals returns the literals of a block to fuse, by the index of the statement
// where each is built, and the set of statements they absorb.
func findLiterals(stmts []ir.Stmt) (at map[int]*literal, absorbed map[int]bool) {
	at, absorbed = map[int]*literal{}, map[int]bool{}
	for i, s := range stmts {
		var target ir.Local
		var op opcode
		switch s := s.(type) {
		case *ir.MakeArrayStmt:
			target, op = s.Target, opBuildArray
		case *ir.MakeObjectStmt:
			target, op = s.Target, opBuildObject
		case *ir.MakeSetStmt:
			target, op = s.Target, opBuildSet
		default:
			continue
		}
		// Until something uses the value in this block, it may leave it through the
		// local (a function's return value, say) and be changed elsewhere.
		lit := &literal{op: op, make: i}
		operands := map[ir.Local]bool{}
		for j := i + 1; j < len(stmts); j++ {
			if elems, ok := element(stmts[j], op, target); ok && !reads(elems, target) {
				lit.elems = append(lit.elems, j)
				for _, o := range elems {
					if l, ok := o.Value.(ir.Local); ok {
						operands[l] = true
					}
				}
				continue
			}
			if touches(stmts[j], target, operands) {
				lit.constant = !changes(stmts[j], target)
				break
			}
		}
		if len(lit.elems) == 0 {
			if lit.constant {
				at[i] = lit // an empty literal
			}
			continue
		}
		at[lit.elems[len(lit.elems)-1]] = lit
		absorbed[i] = true
		for _, j := range lit.elems {
			absorbed[j] = true
		}
	}
	return at, absorbed
}

// changes reports whether a statement, nested blocks included, changes the collection
// in local l in place.
func changes(s ir.Stmt, l ir.Local) bool {
	hit := false
	if !eachLocal(s, nil, nil, func(x ir.Local) { hit = hit || x == l }) {
		return true
	}
	for _, b := range nestedBlocks(s) {
		for _, nested := range b.Stmts {
			if hit || changes(nested, l) {
				return true
			}
		}
	}
	return hit
}

// element returns the operands of a statement adding an element to the literal of
// kind op in local target: the value, or the key and the value.
func element(s ir.Stmt, op opcode, target ir.Local) ([]ir.Operand, bool) {
	switch s := s.(type) {
	case *ir.ArrayAppendStmt:
		return []ir.Operand{s.Value}, op == opBuildArray && s.Array == target
	case *ir.ObjectInsertStmt:
		return []ir.Operand{s.Key, s.Value}, op == opBuildObject && s.Object == target
	case *ir.SetAddStmt:
		return []ir.Operand{s.Value}, op == opBuildSet && s.Set == target
	}
	return nil, false
}

// reads reports whether one of the operands is local l.
func reads(operands []ir.Operand, l ir.Local) bool {
	for _, o := range operands {
		if v, ok := o.Value.(ir.Local); ok && v == l {
			return true
		}
	}
	return false
}

// build makes the value of a literal from its elements' values.
func build(op opcode, elems []*ast.Term) *ast.Term {
	switch op {
	case opBuildArray:
		return ast.NewTerm(ast.NewArray(elems...))
	case opBuildSet:
		return ast.NewTerm(ast.NewSet(elems...))
	default:
		items := make([][2]*ast.Term, len(elems)/2)
		for i := range items {
			items[i] = [2]*ast.Term{elems[2*i], elems[2*i+1]}
		}
		return ast.NewTerm(ast.NewObject(items...))
	}
}
