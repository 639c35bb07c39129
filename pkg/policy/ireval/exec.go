package ireval

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"
)

// machine is the state of one evaluation: frames of locals, the memoized rule values,
// the result set and what built-ins are called with. A program keeps a pool of them,
// so that evaluations after the first allocate little beyond the values they make.
type machine struct {
	p *program

	// stack holds the frames of locals; a frame is stack[base:base+function.locals].
	// When the stack grows, the frames below stay in the old array they were made in.
	stack []*ast.Term
	sp    int
	used  int // high-water mark of sp, to clear on release

	// memo holds the values of memoized functions in the current with-scope, indexed
	// by function id; dirty lists the slots set, to clear; spare holds tables for the
	// next with-scopes.
	memo  []memoSlot
	dirty []int
	spare [][]memoSlot

	results ast.Set

	// iters are the callbacks of scans over objects, by depth of nesting.
	iters []*objectScan
	depth int

	ctx   context.Context
	done  <-chan struct{}
	ext   topdown.Cancel
	steps uint32

	builtinCalls
}

type memoSlot struct {
	done bool
	val  *ast.Term // nil: the function is undefined
}

func newMachine(p *program) *machine {
	m := &machine{p: p, memo: make([]memoSlot, p.memoSize)}
	m.stack = make([]*ast.Term, p.plan.locals+256)
	m.emit = m.onOutput
	return m
}

// Eval evaluates the query for the input of ectx and returns its result set: a set of
// objects, each binding the query's variables by name, as rego expects of a target.
func (p *program) Eval(ctx context.Context, ectx *rego.EvalContext, runtime ast.Value) (ast.Value, error) {
	input, err := parsedInput(ectx)
	if err != nil {
		return nil, err
	}
	m := p.pool.Get().(*machine)
	defer m.release()
	return m.run(ctx, ectx, input, runtime)
}

// parsedInput is the input of an evaluation as an ast value. rego parses a raw input
// for its own evaluators only; this does it as rego does (Rego.parseRawInput).
func parsedInput(ectx *rego.EvalContext) (ast.Value, error) {
	if input := ectx.ParsedInput(); input != nil || ectx.RawInput() == nil {
		return input, nil
	}
	raw := util.Reference(ectx.RawInput())
	if err := util.RoundTripFast(raw); err != nil {
		return nil, fmt.Errorf("ireval: input: %w", err)
	}
	input, err := ast.InterfaceToValue(*raw)
	if err != nil {
		return nil, fmt.Errorf("ireval: input: %w", err)
	}
	return input, nil
}

func (m *machine) run(ctx context.Context, ectx *rego.EvalContext, input, runtime ast.Value) (ast.Value, error) {
	m.ctx, m.done, m.ext = ctx, ctx.Done(), ectx.ExternalCancel()
	if m.Cancelled() {
		return nil, cancelled()
	}
	m.start(ectx, runtime)
	m.results = ast.NewSet()
	fr, _ := m.push(m.p.plan.locals)
	if input != nil {
		fr[ir.Input] = ast.NewTerm(input)
	}
	fr[ir.Data] = m.p.data
	for _, b := range m.p.plan.blocks {
		if _, err := m.block(b, fr); err != nil {
			return nil, err
		}
	}
	if m.strict && len(m.errs) > 0 {
		return nil, m.errs[0]
	}
	return m.results, nil
}

// release drops every reference the evaluation left and returns m to the pool.
func (m *machine) release() {
	clear(m.stack[:min(m.used, len(m.stack))])
	m.sp, m.used, m.steps, m.depth = 0, 0, 0, 0
	for _, id := range m.dirty {
		m.memo[id] = memoSlot{}
	}
	m.dirty = m.dirty[:0]
	m.results = nil
	m.ctx, m.done, m.ext = nil, nil, nil
	m.builtinCalls.reset()
	m.p.pool.Put(m)
}

// push makes a cleared frame of n locals and returns it with the base to pop to.
func (m *machine) push(n int) ([]*ast.Term, int) {
	base := m.sp
	if base+n > len(m.stack) {
		// The frames below keep the old array; this one and those above go in the
		// new one, whose lower part stays unused until they are popped.
		m.stack = make([]*ast.Term, 2*(base+n))
	}
	m.sp = base + n
	m.used = max(m.used, m.sp)
	fr := m.stack[base:m.sp:m.sp]
	clear(fr)
	return fr, base
}

func (m *machine) pop(base int) { m.sp = base }

// get reads an operand in frame fr, of a function whose constants are cs.
func get(fr, cs []*ast.Term, o operand) *ast.Term {
	if o >= 0 {
		return fr[o]
	}
	return cs[^o]
}

// Cancelled reports whether the evaluation is to stop: its context is done or its
// external cancellation fired. m is the topdown.Cancel built-ins are given.
func (m *machine) Cancelled() bool {
	select {
	case <-m.done:
		return true
	default:
	}
	return m.ext != nil && m.ext.Cancelled()
}

// Cancel does nothing: an evaluation is cancelled through its context.
func (m *machine) Cancel() {}

var _ topdown.Cancel = (*machine)(nil)

// tick counts a step of a loop or a call and looks for cancellation every 64 of them.
func (m *machine) tick() error {
	m.steps++
	if m.steps&63 == 0 && m.Cancelled() {
		return cancelled()
	}
	return nil
}

// cancelled is the error topdown returns for a cancelled evaluation.
func cancelled() error {
	return &topdown.Error{Code: topdown.CancelErr, Message: "caller cancelled query execution"}
}

func conflict(s *instr) error {
	return &topdown.Error{Code: topdown.ConflictErr, Location: s.loc, Message: s.msg}
}

// internal reports a statement whose operands the planner would never produce.
func internal(s *instr, format string, args ...any) error {
	return &topdown.Error{Code: topdown.InternalErr, Location: s.loc, Message: fmt.Sprintf("ireval: %s: %s", s.op, fmt.Sprintf(format, args...))}
}

// block runs the statements of b in frame fr. It returns -1 when every statement
// held, or k >= 0 when a statement broke out of b and k blocks around it (an undefined
// statement breaks out of b alone: k = 0).
func (m *machine) block(b *block, fr []*ast.Term) (int, error) {
	cs := b.consts
	for i := range b.stmts {
		s := &b.stmts[i]
		switch s.op {
		case opFail:
			return 0, nil

		case opArrayAppend:
			t, v := m.changing(fr, s.target), get(fr, cs, s.a)
			if t == nil || v == nil {
				return 0, internal(s, "append to or of an undefined value")
			}
			arr, ok := t.Value.(*ast.Array)
			if !ok {
				return 0, internal(s, "append to a %s", ast.ValueName(t.Value))
			}
			// The array is the statement's own (MakeArrayStmt made it): it grows in
			// place, as the IR means.
			t.Value = arr.Append(v)

		case opConst:
			fr[s.target] = s.k

		case opBuildArray, opBuildObject, opBuildSet:
			elems := make([]*ast.Term, len(s.args))
			for i, a := range s.args {
				if elems[i] = get(fr, cs, a); elems[i] == nil {
					return 0, internal(s, "element %d is undefined", i)
				}
			}
			fr[s.target] = build(s.op, elems)

		case opAssignVar:
			fr[s.target] = get(fr, cs, s.a)

		case opAssignVarOnce:
			v, cur := get(fr, cs, s.a), fr[s.target]
			if cur == nil {
				fr[s.target] = v
			} else if v == nil || !cur.Equal(v) {
				return 0, conflict(s)
			}

		case opBlock:
			for _, nested := range s.blocks {
				r, err := m.block(nested, fr)
				if err != nil {
					return 0, err
				}
				if r > 0 {
					return r - 1, nil
				}
			}

		case opBreak:
			return s.n, nil

		case opCall:
			v, err := m.call(s.fn, s.args, fr, cs)
			if err != nil {
				return 0, err
			}
			fr[s.target] = v
			if v == nil {
				return 0, nil
			}

		case opCallBuiltin:
			if r, err := m.callBuiltin(s, fr, cs); r >= 0 || err != nil {
				return r, err
			}

		case opCallDynamic:
			if r, err := m.callDynamic(s, fr, cs); r >= 0 || err != nil {
				return r, err
			}

		case opDot:
			src, key := fr[s.a], get(fr, cs, s.b)
			var v *ast.Term
			if src != nil && key != nil {
				v = src.Get(key)
			}
			fr[s.target] = v
			if v == nil {
				return 0, nil
			}

		case opEqual:
			a, b := get(fr, cs, s.a), get(fr, cs, s.b)
			if !equal(a, b) {
				return 0, nil
			}

		case opNotEqual:
			a, b := get(fr, cs, s.a), get(fr, cs, s.b)
			if equal(a, b) {
				return 0, nil
			}

		case opIsArray:
			if t := fr[s.a]; t == nil {
				return 0, nil
			} else if _, ok := t.Value.(*ast.Array); !ok {
				return 0, nil
			}

		case opIsObject:
			if t := fr[s.a]; t == nil {
				return 0, nil
			} else if _, ok := t.Value.(ast.Object); !ok {
				return 0, nil
			}

		case opIsSet:
			if t := fr[s.a]; t == nil {
				return 0, nil
			} else if _, ok := t.Value.(ast.Set); !ok {
				return 0, nil
			}

		case opIsDefined:
			if fr[s.a] == nil {
				return 0, nil
			}

		case opIsUndefined:
			if fr[s.a] != nil {
				return 0, nil
			}

		case opLen:
			n, err := length(s, get(fr, cs, s.a))
			if err != nil {
				return 0, err
			}
			fr[s.target] = ast.InternedTerm(n)

		case opMakeArray:
			fr[s.target] = ast.NewTerm(ast.NewArrayWithCapacity(s.n))

		case opMakeObject:
			fr[s.target] = ast.NewTerm(ast.NewObject())

		case opMakeSet:
			fr[s.target] = ast.NewTerm(ast.NewSet())

		case opNot:
			r, err := m.block(s.body, fr)
			switch {
			case err != nil:
				return 0, err
			case r < 0: // the negated block held
				return 0, nil
			case r > 0:
				return r - 1, nil
			}

		case opObjectInsert, opObjectInsertOnce:
			obj, k, v := m.changing(fr, s.target), get(fr, cs, s.a), get(fr, cs, s.b)
			if obj == nil || k == nil || v == nil {
				return 0, internal(s, "insert into or of an undefined value")
			}
			o, ok := obj.Value.(ast.Object)
			if !ok {
				return 0, internal(s, "insert into a %s", ast.ValueName(obj.Value))
			}
			if s.op == opObjectInsertOnce {
				if cur := o.Get(k); cur != nil && !cur.Equal(v) {
					return 0, conflict(s)
				}
			}
			o.Insert(k, v)

		case opObjectMerge:
			v, err := merge(s, fr[s.a], fr[s.b])
			if err != nil {
				return 0, err
			}
			fr[s.target] = v

		case opResetLocal:
			fr[s.target] = nil

		case opResultSetAdd:
			if v := fr[s.a]; v != nil {
				m.results.Add(v)
			}

		case opScan:
			if r, err := m.scan(s, fr); r >= 0 || err != nil {
				return r, err
			}

		case opSetAdd:
			set, v := m.changing(fr, s.target), get(fr, cs, s.a)
			if set == nil || v == nil {
				return 0, internal(s, "add to or of an undefined value")
			}
			st, ok := set.Value.(ast.Set)
			if !ok {
				return 0, internal(s, "add to a %s", ast.ValueName(set.Value))
			}
			st.Add(v)

		case opWith:
			if r, err := m.with(s, fr, cs); r >= 0 || err != nil {
				return r, err
			}

		default:
			return 0, internal(s, "unknown statement")
		}
	}
	return -1, nil
}

// changing returns the collection in local l for a statement to change, in place: a
// copy of its own if the program shares it (see frozen).
func (m *machine) changing(fr []*ast.Term, l int32) *ast.Term {
	t := fr[l]
	if t != nil && t.Location == frozen {
		t = thaw(t)
		fr[l] = t
	}
	return t
}

// equal is EqualStmt's comparison: two undefined values are equal.
func equal(a, b *ast.Term) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

// call runs a planned function with the arguments read from the caller's frame and
// returns its value, nil when undefined.
func (m *machine) call(fn *function, args []operand, caller, cs []*ast.Term) (*ast.Term, error) {
	if fn.memo {
		if slot := m.memo[fn.id]; slot.done {
			return slot.val, nil
		}
	}
	if err := m.tick(); err != nil {
		return nil, err
	}
	fr, base := m.push(fn.locals)
	for i, p := range fn.params {
		fr[p] = get(caller, cs, args[i])
	}
	for _, b := range fn.blocks {
		if _, err := m.block(b, fr); err != nil {
			m.pop(base)
			return nil, err
		}
	}
	v := fr[fn.ret]
	m.pop(base)
	if fn.memo {
		m.memo[fn.id] = memoSlot{done: true, val: v}
		m.dirty = append(m.dirty, fn.id)
	}
	return v, nil
}

// callDynamic calls the function at a path computed at run time, a rule the planner
// could not name. When no function is at the path, the statement is undefined and the
// block after it reads the base document instead; when the function is undefined,
// the statement leaves the blocks around it (see compileStmt).
func (m *machine) callDynamic(s *instr, fr, cs []*ast.Term) (int, error) {
	node := m.p.dynamic
	for _, o := range s.path {
		seg := get(fr, cs, o)
		if seg == nil {
			return 0, nil
		}
		str, ok := seg.Value.(ast.String)
		if !ok {
			return 0, nil
		}
		if node = node.children[string(str)]; node == nil {
			return 0, nil
		}
	}
	fn := node.fn
	if fn == nil {
		return 0, nil
	}
	if len(fn.params) != len(s.args) {
		return 0, internal(s, "%s takes %d arguments, called with %d", fn.name, len(fn.params), len(s.args))
	}
	v, err := m.call(fn, s.args, fr, cs)
	if err != nil {
		return 0, err
	}
	fr[s.target] = v
	if v == nil {
		return 3, nil
	}
	return -1, nil
}

// scan runs the body for every element of a collection; a scalar has none. The body
// is two blocks deep: its break 0 goes on with the next element, break 1 ends the
// scan, and break k > 1 leaves k-2 blocks around the statement.
func (m *machine) scan(s *instr, fr []*ast.Term) (int, error) {
	src := fr[s.a]
	if src == nil {
		return -1, nil
	}
	switch coll := src.Value.(type) {
	case *ast.Array:
		for i := range coll.Len() {
			if stop, r, err := m.step(s, fr, ast.InternedTerm(i), coll.Elem(i)); stop {
				return r, err
			}
		}
	case ast.Set:
		for _, e := range coll.Slice() {
			if stop, r, err := m.step(s, fr, e, e); stop {
				return r, err
			}
		}
	case ast.Object:
		// Objects are only iterated through a callback: one made once per depth of
		// nested scans, rather than a closure per scan.
		if m.depth == len(m.iters) {
			it := &objectScan{m: m}
			it.visit = it.element
			m.iters = append(m.iters, it)
		}
		it := m.iters[m.depth]
		m.depth++
		it.s, it.fr, it.r, it.err = s, fr, -1, nil
		coll.Until(it.visit)
		m.depth--
		r, err := it.r, it.err
		it.s, it.fr, it.err = nil, nil, nil
		return r, err
	}
	return -1, nil
}

// step runs a scan's body for one element. It reports whether to stop, and then what
// the scan statement returns.
func (m *machine) step(s *instr, fr []*ast.Term, k, v *ast.Term) (bool, int, error) {
	if err := m.tick(); err != nil {
		return true, 0, err
	}
	fr[s.b], fr[s.target] = k, v
	r, err := m.block(s.body, fr)
	if err != nil || r > 0 {
		return true, max(r-2, -1), err
	}
	return false, -1, nil
}

// objectScan is the callback of a scan over an object.
type objectScan struct {
	m     *machine
	visit func(k, v *ast.Term) bool // element, bound once
	s     *instr
	fr    []*ast.Term
	r     int
	err   error
}

func (it *objectScan) element(k, v *ast.Term) bool {
	var stop bool
	stop, it.r, it.err = it.m.step(it.s, it.fr, k, v)
	return stop
}

// with runs the body with a local, or a path in it, replaced by a value, and with a
// fresh memo: the rules it calls may see other input or data.
func (m *machine) with(s *instr, fr, cs []*ast.Term) (int, error) {
	orig := fr[s.target]
	v := get(fr, cs, s.a)
	if len(s.keys) > 0 {
		v = upsert(orig, s.keys, v)
	}
	fr[s.target] = v
	outer, dirty := m.memo, m.dirty
	m.memo, m.dirty = m.newMemo(), nil
	r, err := m.block(s.body, fr)
	m.spare = append(m.spare, m.memo)
	m.memo, m.dirty = outer, dirty
	fr[s.target] = orig
	switch {
	case err != nil:
		return 0, err
	case r > 0:
		return r - 1, nil
	default:
		return r, nil // -1: the body held; 0: it did not, and the statement is undefined
	}
}

func (m *machine) newMemo() []memoSlot {
	if n := len(m.spare); n > 0 {
		memo := m.spare[n-1]
		m.spare = m.spare[:n-1]
		clear(memo)
		return memo
	}
	return make([]memoSlot, m.p.memoSize)
}

// builtinCalls is what a machine needs to call built-ins: one context for them all
// per evaluation, and the output of the call under way.
type builtinCalls struct {
	bctx    topdown.BuiltinContext
	started bool // bctx is set up for this evaluation
	ectx    *rego.EvalContext
	runtime ast.Value
	strict  bool
	errs    []error // the errors of built-ins, which made their calls undefined

	args    []*ast.Term
	emit    func(*ast.Term) error // onOutput, bound once
	emitted int
	out     *ast.Term
	outs    []*ast.Term
	collect bool // the call under way is a relation: keep every output
}

func (b *builtinCalls) reset() {
	b.bctx = topdown.BuiltinContext{}
	b.started, b.ectx, b.runtime, b.strict = false, nil, nil, false
	b.errs = b.errs[:0]
	clear(b.args)
	b.out = nil
	clear(b.outs)
	b.outs = b.outs[:0]
}

func (b *builtinCalls) onOutput(t *ast.Term) error {
	b.emitted++
	if b.collect {
		b.outs = append(b.outs, t)
	} else if b.emitted == 1 {
		b.out = t
	}
	return nil
}

// start records what the evaluation's built-in calls need; the context itself is set
// up at the first call.
func (m *machine) start(ectx *rego.EvalContext, runtime ast.Value) {
	m.ectx, m.runtime, m.strict = ectx, runtime, ectx.StrictBuiltinErrors()
}
