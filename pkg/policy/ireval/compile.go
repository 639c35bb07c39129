package ireval

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// A program is a planned query made ready to run: every call resolved to a function or
// a built-in, every constant made a term, every local an index into a frame. It is
// immutable and safe for concurrent use; each evaluation takes a machine from pool.
type program struct {
	plan *function // the query, a function of no parameters
	data *ast.Term
	// dynamic finds a function by its path, for CallDynamicStmt.
	dynamic *pathNode
	// memoSize is one more than the highest memo slot of the program's functions.
	memoSize int
	pool     sync.Pool
}

// operand is where a statement reads a value: the local of that index in the running
// frame when >= 0, else the function's constant ^operand.
type operand int32

// noLocal marks an unused local field.
const noLocal = -1

type opcode uint8

// One opcode per IR statement, but for NopStmt (dropped), ReturnLocalStmt (a function's
// return local), CallStmt (split between functions and built-ins), and the statements
// making constants (opConst: MakeNullStmt, MakeNumberIntStmt, MakeNumberRefStmt,
// AssignIntStmt, and literals made constant, see fuse.go). opFail stands for a
// statement that can never hold, such as a DotStmt on a constant; opBuild* for fused
// literals.
const (
	opFail opcode = iota
	opArrayAppend
	opAssignVar
	opAssignVarOnce
	opBlock
	opBreak
	opCall
	opCallBuiltin
	opCallDynamic
	opDot
	opEqual
	opIsArray
	opIsDefined
	opIsObject
	opIsSet
	opIsUndefined
	opLen
	opConst
	opBuildArray
	opBuildObject
	opBuildSet
	opMakeArray
	opMakeObject
	opMakeSet
	opNot
	opNotEqual
	opObjectInsert
	opObjectInsertOnce
	opObjectMerge
	opResetLocal
	opResultSetAdd
	opScan
	opSetAdd
	opWith
)

// instr is one compiled statement. Which fields mean what depends on op; see
// compileStmt.
type instr struct {
	op     opcode
	a, b   operand
	target int32
	n      int         // break index; array capacity
	k      *ast.Term   // the constant of opConst
	blocks []*block    // BlockStmt
	body   *block      // ScanStmt, NotStmt, WithStmt
	fn     *function   // CallStmt of a planned function
	bi     *builtin    // CallStmt of a built-in
	args   []operand   // call arguments
	path   []operand   // CallDynamicStmt path
	keys   []*ast.Term // WithStmt path
	loc    *ast.Location
	msg    string // conflict message
}

// block is a compiled block; consts are its function's.
type block struct {
	stmts  []instr
	consts []*ast.Term
}

// function is a planned function: a rule (input and data as parameters), a Rego
// function (more parameters), or the query plan. Functions are shared by the programs
// of a Scope that plan the same rules the same way.
type function struct {
	name   string
	id     int // the function's memo slot, unique in its Scope
	params []int32
	ret    int32
	blocks []*block
	locals int         // frame size
	consts []*ast.Term // the strings and booleans its statements read
	// memo: the function's value depends only on input and data, which change only
	// under WithStmt, so it is computed once per evaluation and with-scope, as
	// topdown's virtual document cache and OPA's wasm memoization do.
	memo bool
	// conflict is the message for a second, different value of the function.
	conflict    string
	fingerprint [32]byte
}

// builtin is a built-in function as OPA implements it.
type builtin struct {
	name     string
	decl     *ast.Builtin
	f        topdown.BuiltinFunc
	relation bool             // returns every output, as an array
	void     bool             // has no output (print)
	custom   *topdown.Builtin // the built-in given to rego, if it is one
}

// pathNode is a node of the tree of function paths.
type pathNode struct {
	children map[string]*pathNode
	fn       *function
}

// compiler turns an ir.Policy into a program.
type compiler struct {
	policy   *ir.Policy
	scope    *Scope
	planned  map[string]*ir.Func
	done     map[string]*function
	active   map[string]bool
	builtins map[string]*builtin
	custom   map[string]*topdown.Builtin
	dynamic  *pathNode
	maxID    int
	// fn is the function being compiled, consts the index of its constants.
	fn     *function
	consts map[ast.Value]operand
}

// compile prepares a planned query for evaluation in scope. custom holds the built-ins
// given to rego besides OPA's own. Every statement the planner emits is supported;
// anything else, a call that resolves to nothing, or a control flow the evaluator
// cannot follow, is an error here rather than a different result later.
func compile(policy *ir.Policy, scope *Scope, data *ast.Term, custom map[string]*topdown.Builtin) (*program, error) {
	if policy.Plans == nil || len(policy.Plans.Plans) != 1 {
		return nil, fmt.Errorf("want one plan, got %d", plansOf(policy))
	}
	c := &compiler{
		policy:   policy,
		scope:    scope,
		planned:  map[string]*ir.Func{},
		done:     map[string]*function{},
		active:   map[string]bool{},
		builtins: map[string]*builtin{},
		custom:   custom,
		dynamic:  &pathNode{},
	}
	var funcs []*ir.Func
	if policy.Funcs != nil {
		funcs = policy.Funcs.Funcs
	}
	for _, f := range funcs {
		if _, dup := c.planned[f.Name]; dup {
			return nil, fmt.Errorf("function %s is planned twice", f.Name)
		}
		c.planned[f.Name] = f
	}
	for _, f := range funcs {
		fn, err := c.function(f.Name)
		if err != nil {
			return nil, err
		}
		if len(f.Path) > 0 {
			c.dynamic.insert(f.Path, fn)
		}
	}
	plan := policy.Plans.Plans[0]
	fn := &function{name: plan.Name, id: -1, ret: noLocal}
	c.start(fn)
	c.use(ir.Input)
	c.use(ir.Data)
	for _, b := range plan.Blocks {
		cb, err := c.compileBlock(b, 1)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", plan.Name, err)
		}
		fn.blocks = append(fn.blocks, cb)
	}
	c.finish()
	prog := &program{plan: fn, data: data, dynamic: c.dynamic, memoSize: c.maxID + 1}
	prog.pool.New = func() any { return newMachine(prog) }
	return prog, nil
}

// function compiles the planned function of that name, the functions it calls first,
// and returns the Scope's function for it.
func (c *compiler) function(name string) (*function, error) {
	if fn, ok := c.done[name]; ok {
		return fn, nil
	}
	if c.active[name] {
		return nil, fmt.Errorf("function %s calls itself", name)
	}
	f := c.planned[name]
	c.active[name] = true
	defer delete(c.active, name)
	for _, callee := range callees(f.Blocks) {
		if _, ok := c.planned[callee]; ok {
			if _, err := c.function(callee); err != nil {
				return nil, err
			}
		}
	}
	fn := &function{name: f.Name, memo: len(f.Params) == 2, conflict: conflictMessage(f)}
	outer, outerConsts := c.fn, c.consts
	c.start(fn)
	err := c.compileFunc(fn, f)
	c.finish()
	c.fn, c.consts = outer, outerConsts
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", f.Name, err)
	}
	fn = c.scope.intern(fn)
	c.maxID = max(c.maxID, fn.id)
	c.done[name] = fn
	return fn, nil
}

func (c *compiler) start(fn *function) {
	c.fn, c.consts = fn, map[ast.Value]operand{}
}

// finish gives every block of the function its constants.
func (c *compiler) finish() {
	var walk func(b *block)
	walk = func(b *block) {
		b.consts = c.fn.consts
		for i := range b.stmts {
			for _, nested := range b.stmts[i].blocks {
				walk(nested)
			}
			if body := b.stmts[i].body; body != nil {
				walk(body)
			}
		}
	}
	for _, b := range c.fn.blocks {
		walk(b)
	}
}

// callees lists the functions and built-ins the blocks call by name.
func callees(blocks []*ir.Block) []string {
	var names []string
	var walk func(b *ir.Block)
	walk = func(b *ir.Block) {
		for _, s := range b.Stmts {
			if call, ok := s.(*ir.CallStmt); ok {
				names = append(names, call.Func)
			}
			for _, nested := range nestedBlocks(s) {
				walk(nested)
			}
		}
	}
	for _, b := range blocks {
		walk(b)
	}
	return names
}

func plansOf(p *ir.Policy) int {
	if p.Plans == nil {
		return 0
	}
	return len(p.Plans.Plans)
}

// conflictMessage is topdown's message for a rule or function that produces two values.
func conflictMessage(f *ir.Func) string {
	path := f.Name
	if _, rest, ok := strings.Cut(path, "."); ok && strings.HasPrefix(path, "g") {
		path = rest // drop the planner's generation prefix, g0.
	}
	if len(f.Params) > 2 {
		return "function " + path + " produced conflicting values for the same inputs"
	}
	return "rule " + path + " produced conflicting values"
}

func (n *pathNode) insert(path []string, fn *function) {
	for _, seg := range path {
		if n.children == nil {
			n.children = map[string]*pathNode{}
		}
		next, ok := n.children[seg]
		if !ok {
			next = &pathNode{}
			n.children[seg] = next
		}
		n = next
	}
	n.fn = fn
}

// compileFunc compiles a function's blocks. The planner ends every function with a
// block returning its return local, and returns nowhere else; the compiled function
// returns that local's value after its blocks ran.
func (c *compiler) compileFunc(fn *function, f *ir.Func) error {
	c.fn = fn
	if len(f.Params) < 2 {
		return fmt.Errorf("has %d parameters, want input and data at least", len(f.Params))
	}
	for _, p := range f.Params {
		fn.params = append(fn.params, c.use(p))
	}
	fn.ret = c.use(f.Return)
	blocks := f.Blocks
	if n := len(blocks); n > 0 && len(blocks[n-1].Stmts) == 1 {
		if r, ok := blocks[n-1].Stmts[0].(*ir.ReturnLocalStmt); ok {
			fn.ret = c.use(r.Source)
			blocks = blocks[:n-1]
		}
	}
	for _, b := range blocks {
		cb, err := c.compileBlock(b, 1)
		if err != nil {
			return err
		}
		fn.blocks = append(fn.blocks, cb)
	}
	return nil
}

// use records that the running function uses local l and returns its index.
func (c *compiler) use(l ir.Local) int32 {
	if int(l)+1 > c.fn.locals {
		c.fn.locals = int(l) + 1
	}
	return int32(l)
}

func (c *compiler) operand(o ir.Operand) (operand, error) {
	switch v := o.Value.(type) {
	case ir.Local:
		return operand(c.use(v)), nil
	case ir.StringIndex:
		str, err := c.str(int(v))
		if err != nil {
			return 0, err
		}
		return c.constant(ast.String(str)), nil
	case ir.Bool:
		return c.constant(ast.Boolean(v)), nil
	default:
		return 0, fmt.Errorf("unsupported operand %T", o.Value)
	}
}

// str returns a static string of the plan.
func (c *compiler) str(i int) (string, error) {
	if st := c.policy.Static; st != nil && i >= 0 && i < len(st.Strings) {
		return st.Strings[i].Value, nil
	}
	return "", fmt.Errorf("string constant %d does not exist", i)
}

// constant returns the operand of a constant of the function being compiled.
func (c *compiler) constant(v ast.Value) operand {
	if o, ok := c.consts[v]; ok {
		return o
	}
	c.fn.consts = append(c.fn.consts, ast.NewTerm(v))
	o := ^operand(len(c.fn.consts) - 1)
	c.consts[v] = o
	return o
}

// compileBlock compiles a block nested depth blocks deep in its function (1 for a
// function's own blocks), so that a break out of the function is refused here. Its
// literals are fused (see fuse.go); consts follows which locals hold which constant
// at each statement, for the literals whose elements are all constants.
func (c *compiler) compileBlock(b *ir.Block, depth int) (*block, error) {
	out := &block{stmts: make([]instr, 0, len(b.Stmts))}
	literals, absorbed := findLiterals(b.Stmts)
	consts := map[ir.Local]*ast.Term{}
	for i, s := range b.Stmts {
		var in instr
		var err error
		switch lit, fused := literals[i]; {
		case fused:
			in, err = c.compileLiteral(b.Stmts, lit, consts)
		case absorbed[i]:
			forgetWritten(s, consts)
			continue
		default:
			if _, ok := s.(*ir.NopStmt); ok {
				continue
			}
			in, err = c.compileStmt(s, depth)
		}
		if err != nil {
			loc := s.GetLocation()
			return nil, fmt.Errorf("%T at %s:%d:%d: %w", s, c.file(loc.File), loc.Row, loc.Col, err)
		}
		forgetWritten(s, consts)
		if in.op == opConst {
			consts[ir.Local(in.target)] = in.k
		}
		out.stmts = append(out.stmts, in)
	}
	return out, nil
}

// forgetWritten drops from consts the locals a statement may write.
func forgetWritten(s ir.Stmt, consts map[ir.Local]*ast.Term) {
	write := func(l ir.Local) { delete(consts, l) }
	eachLocal(s, nil, write, write)
	for _, b := range nestedBlocks(s) {
		for _, nested := range b.Stmts {
			forgetWritten(nested, consts)
		}
	}
}

// compileLiteral compiles a fused literal: a constant when it may be one and all its
// elements are constants, else a statement building it from its elements.
func (c *compiler) compileLiteral(stmts []ir.Stmt, lit *literal, consts map[ir.Local]*ast.Term) (instr, error) {
	var target ir.Local
	switch s := stmts[lit.make].(type) {
	case *ir.MakeArrayStmt:
		target = s.Target
	case *ir.MakeObjectStmt:
		target = s.Target
	case *ir.MakeSetStmt:
		target = s.Target
	}
	in := instr{op: lit.op, target: c.use(target)}
	constant := lit.constant
	var terms []*ast.Term
	for _, j := range lit.elems {
		elems, _ := element(stmts[j], lit.op, target)
		for _, e := range elems {
			o, err := c.operand(e)
			if err != nil {
				return in, err
			}
			in.args = append(in.args, o)
			switch v := e.Value.(type) {
			case ir.Local:
				if t, ok := consts[v]; ok {
					terms = append(terms, t)
				} else {
					constant = false
				}
			default:
				terms = append(terms, c.fn.consts[^o])
			}
		}
	}
	if constant {
		// build makes a term of its own, which may be marked; scalar constants may be
		// OPA's interned terms, and are never changed anyway.
		k := build(lit.op, terms)
		k.Location = frozen
		return instr{op: opConst, k: k, target: in.target}, nil
	}
	return in, nil
}

func (c *compiler) file(i int) string {
	if st := c.policy.Static; st != nil && i >= 0 && i < len(st.Files) {
		return st.Files[i].Value
	}
	return "?"
}

func (c *compiler) location(s ir.Stmt) *ast.Location {
	loc := s.GetLocation()
	return &ast.Location{File: c.file(loc.File), Row: loc.Row, Col: loc.Col}
}

// compileStmt compiles one statement of a block nested depth deep.
func (c *compiler) compileStmt(s ir.Stmt, depth int) (instr, error) {
	var err error
	ops := func(os ...ir.Operand) []operand {
		out := make([]operand, len(os))
		for i, o := range os {
			if err == nil {
				out[i], err = c.operand(o)
			}
		}
		return out
	}
	switch s := s.(type) {
	case *ir.ArrayAppendStmt:
		o := ops(s.Value)
		return instr{op: opArrayAppend, a: o[0], target: c.use(s.Array)}, err
	case *ir.AssignIntStmt:
		return instr{op: opConst, k: ast.IntNumberTerm(int(s.Value)), target: c.use(s.Target)}, nil
	case *ir.AssignVarStmt:
		o := ops(s.Source)
		return instr{op: opAssignVar, a: o[0], target: c.use(s.Target)}, err
	case *ir.AssignVarOnceStmt:
		o := ops(s.Source)
		return instr{op: opAssignVarOnce, a: o[0], target: c.use(s.Target), loc: c.location(s), msg: c.fn.conflict}, err
	case *ir.BlockStmt:
		in := instr{op: opBlock}
		for _, b := range s.Blocks {
			cb, err := c.compileBlock(b, depth+1)
			if err != nil {
				return in, err
			}
			in.blocks = append(in.blocks, cb)
		}
		return in, nil
	case *ir.BreakStmt:
		if int(s.Index) >= depth {
			return instr{}, fmt.Errorf("break %d leaves the function (%d blocks deep)", s.Index, depth)
		}
		return instr{op: opBreak, n: int(s.Index)}, nil
	case *ir.CallStmt:
		return c.compileCall(s)
	case *ir.CallDynamicStmt:
		// An undefined result leaves the enclosing blocks the planner builds around
		// the call (see planRefData): three more than the statement's own.
		if depth <= 3 {
			return instr{}, fmt.Errorf("dynamic call only %d blocks deep", depth)
		}
		in := instr{op: opCallDynamic, target: c.use(s.Result), path: ops(s.Path...)}
		for _, a := range s.Args {
			in.args = append(in.args, operand(c.use(a)))
		}
		return in, err
	case *ir.DotStmt:
		src, isLocal := s.Source.Value.(ir.Local)
		if !isLocal {
			return instr{op: opFail}, nil // booleans and strings have no members
		}
		o := ops(s.Key)
		return instr{op: opDot, a: operand(c.use(src)), b: o[0], target: c.use(s.Target)}, err
	case *ir.EqualStmt:
		o := ops(s.A, s.B)
		return instr{op: opEqual, a: o[0], b: o[1]}, err
	case *ir.NotEqualStmt:
		o := ops(s.A, s.B)
		return instr{op: opNotEqual, a: o[0], b: o[1]}, err
	case *ir.IsArrayStmt:
		return c.typeCheck(opIsArray, s.Source)
	case *ir.IsObjectStmt:
		return c.typeCheck(opIsObject, s.Source)
	case *ir.IsSetStmt:
		return c.typeCheck(opIsSet, s.Source)
	case *ir.IsDefinedStmt:
		return instr{op: opIsDefined, a: operand(c.use(s.Source))}, nil
	case *ir.IsUndefinedStmt:
		return instr{op: opIsUndefined, a: operand(c.use(s.Source))}, nil
	case *ir.LenStmt:
		o := ops(s.Source)
		return instr{op: opLen, a: o[0], target: c.use(s.Target)}, err
	case *ir.MakeArrayStmt:
		return instr{op: opMakeArray, n: max(int(s.Capacity), 0), target: c.use(s.Target)}, nil
	case *ir.MakeNullStmt:
		return instr{op: opConst, k: ast.NullTerm(), target: c.use(s.Target)}, nil
	case *ir.MakeNumberIntStmt:
		return instr{op: opConst, k: ast.IntNumberTerm(int(s.Value)), target: c.use(s.Target)}, nil
	case *ir.MakeNumberRefStmt:
		str, err := c.str(s.Index)
		if err != nil {
			return instr{}, err
		}
		if !isNumber(str) {
			return instr{}, fmt.Errorf("%q is not a number", str)
		}
		return instr{op: opConst, k: ast.NumberTerm(json.Number(str)), target: c.use(s.Target)}, nil
	case *ir.MakeObjectStmt:
		return instr{op: opMakeObject, target: c.use(s.Target)}, nil
	case *ir.MakeSetStmt:
		return instr{op: opMakeSet, target: c.use(s.Target)}, nil
	case *ir.NotStmt:
		body, err := c.compileBlock(s.Block, depth+1)
		return instr{op: opNot, body: body}, err
	case *ir.ObjectInsertStmt:
		o := ops(s.Key, s.Value)
		return instr{op: opObjectInsert, a: o[0], b: o[1], target: c.use(s.Object)}, err
	case *ir.ObjectInsertOnceStmt:
		o := ops(s.Key, s.Value)
		return instr{op: opObjectInsertOnce, a: o[0], b: o[1], target: c.use(s.Object), loc: c.location(s), msg: "object keys must be unique"}, err
	case *ir.ObjectMergeStmt:
		return instr{op: opObjectMerge, a: operand(c.use(s.A)), b: operand(c.use(s.B)), target: c.use(s.Target), loc: c.location(s)}, nil
	case *ir.ResetLocalStmt:
		return instr{op: opResetLocal, target: c.use(s.Target)}, nil
	case *ir.ResultSetAddStmt:
		if c.fn.id >= 0 {
			return instr{}, fmt.Errorf("result set statement outside the plan")
		}
		return instr{op: opResultSetAdd, a: operand(c.use(s.Value))}, nil
	case *ir.ScanStmt:
		// The body of a scan is two blocks deep, as OPA's wasm compiler builds it
		// (a loop in a block): break 0 goes on with the next element, break 1 ends
		// the scan, break 2 leaves the block around it.
		body, err := c.compileBlock(s.Block, depth+2)
		return instr{op: opScan, a: operand(c.use(s.Source)), b: operand(c.use(s.Key)), target: c.use(s.Value), body: body}, err
	case *ir.SetAddStmt:
		o := ops(s.Value)
		return instr{op: opSetAdd, a: o[0], target: c.use(s.Set)}, err
	case *ir.WithStmt:
		o := ops(s.Value)
		in := instr{op: opWith, a: o[0], target: c.use(s.Local)}
		for _, i := range s.Path {
			str, err := c.str(i)
			if err != nil {
				return instr{}, err
			}
			in.keys = append(in.keys, ast.StringTerm(str))
		}
		body, berr := c.compileBlock(s.Block, depth+1)
		in.body = body
		if err == nil {
			err = berr
		}
		return in, err
	case *ir.ReturnLocalStmt:
		return instr{}, fmt.Errorf("a return is supported only as the last block of a function")
	default:
		return instr{}, fmt.Errorf("unsupported statement")
	}
}

func (c *compiler) typeCheck(op opcode, src ir.Operand) (instr, error) {
	l, ok := src.Value.(ir.Local)
	if !ok {
		return instr{op: opFail}, nil // a string or boolean constant is none of these
	}
	return instr{op: op, a: operand(c.use(l))}, nil
}

// compileCall compiles a call of a planned function or of a built-in.
func (c *compiler) compileCall(s *ir.CallStmt) (instr, error) {
	in := instr{target: c.use(s.Result), loc: c.location(s)}
	for _, a := range s.Args {
		o, err := c.operand(a)
		if err != nil {
			return in, err
		}
		in.args = append(in.args, o)
	}
	if _, ok := c.planned[s.Func]; ok {
		fn, ok := c.done[s.Func]
		if !ok {
			return in, fmt.Errorf("%s is called before it is compiled", s.Func)
		}
		if len(s.Args) != len(fn.params) {
			return in, fmt.Errorf("%s takes %d arguments, called with %d", s.Func, len(fn.params), len(s.Args))
		}
		in.op, in.fn = opCall, fn
		return in, nil
	}
	bi, err := c.builtin(s.Func)
	if err != nil {
		return in, err
	}
	in.op, in.bi = opCallBuiltin, bi
	return in, nil
}

// builtin resolves a built-in function: one given to rego, else OPA's own.
func (c *compiler) builtin(name string) (*builtin, error) {
	if bi, ok := c.builtins[name]; ok {
		return bi, nil
	}
	bi := &builtin{name: name}
	if cb, ok := c.custom[name]; ok && cb != nil {
		bi.decl, bi.f, bi.custom = cb.Decl, cb.Func, cb
	} else {
		bi.decl, bi.f = ast.BuiltinMap[name], topdown.GetBuiltin(name)
	}
	if bi.decl == nil || bi.f == nil {
		return nil, fmt.Errorf("built-in function %s has no implementation", name)
	}
	bi.relation = bi.decl.Relation
	bi.void = bi.decl.Decl == nil || bi.decl.Decl.Result() == nil
	c.builtins[name] = bi
	return bi, nil
}

// isNumber reports whether s is a JSON number, of any size.
func isNumber(s string) bool {
	return s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') && json.Valid([]byte(s))
}
