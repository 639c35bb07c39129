package ireval

import (
	"crypto/rand"
	"encoding/json"
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// callBuiltin calls a built-in function as topdown does (topdown/eval.go, evalBuiltin):
// the call is defined when the function output a value. An error of the function
// makes the call undefined, and is kept for strict built-in errors, but for a
// topdown.Halt, which ends the evaluation with the error it wraps.
func (m *machine) callBuiltin(s *instr, fr, cs []*ast.Term) (int, error) {
	bi := s.bi
	n := len(s.args)
	if cap(m.args) < n {
		m.args = make([]*ast.Term, 2*n)
	}
	args := m.args[:n:n]
	for i, a := range s.args {
		if args[i] = get(fr, cs, a); args[i] == nil {
			// Only the input can be undefined here: a query without input.
			fr[s.target] = nil
			return 0, nil
		}
	}
	m.setupBuiltins()
	m.bctx.Location = s.loc

	var cacheKey ast.Value
	if bi.decl.Nondeterministic && m.bctx.NDBuiltinCache != nil {
		cacheKey = ast.NewArray(append([]*ast.Term(nil), args...)...)
		if v, ok := m.bctx.NDBuiltinCache.Get(bi.name, cacheKey); ok {
			return m.output(s, fr, ast.NewTerm(v), true)
		}
	}

	m.emitted, m.out, m.outs, m.collect = 0, nil, m.outs[:0], bi.relation
	err := bi.f(m.bctx, args, m.emit)
	if err != nil {
		if h, ok := err.(topdown.Halt); ok {
			return 0, h.Err
		}
		m.errs = append(m.errs, err)
	}
	if bi.relation {
		outs := make([]*ast.Term, len(m.outs))
		copy(outs, m.outs)
		clear(m.outs)
		return m.output(s, fr, ast.NewTerm(ast.NewArray(outs...)), true)
	}
	out, defined := m.out, m.emitted > 0
	m.out = nil
	if defined && cacheKey != nil && out != nil {
		m.bctx.NDBuiltinCache.Put(bi.name, cacheKey, out.Value)
	}
	return m.output(s, fr, out, defined)
}

// output stores a built-in's output. A void built-in (print) outputs nothing, but is
// undefined all the same when it did not call back.
func (m *machine) output(s *instr, fr []*ast.Term, out *ast.Term, defined bool) (int, error) {
	if s.bi.void {
		if !defined {
			return 0, nil
		}
		return -1, nil
	}
	if !defined || out == nil {
		fr[s.target] = nil
		return 0, nil
	}
	fr[s.target] = out
	return -1, nil
}

// setupBuiltins makes the context built-ins are called with, once an evaluation,
// with what topdown gives them.
func (m *machine) setupBuiltins() {
	if m.started {
		return
	}
	m.started = true
	e := m.ectx
	now := e.Time()
	if now.IsZero() {
		now = time.Now()
	}
	seed := e.Seed()
	if seed == nil {
		seed = rand.Reader
	}
	var rt *ast.Term
	if m.runtime != nil {
		rt = ast.NewTerm(m.runtime)
	}
	m.bctx = topdown.BuiltinContext{
		Context:                     m.ctx,
		Metrics:                     e.Metrics(),
		Seed:                        seed,
		Time:                        ast.NumberTerm(json.Number(strconv.FormatInt(now.UnixNano(), 10))),
		Cancel:                      m,
		Runtime:                     rt,
		Cache:                       builtins.Cache{},
		InterQueryBuiltinCache:      e.InterQueryBuiltinCache(),
		InterQueryBuiltinValueCache: e.InterQueryBuiltinValueCache(),
		NDBuiltinCache:              e.NDBCache(),
		PrintHook:                   e.PrintHook(),
		DistributedTracingOpts:      e.TracingOpts(),
		Capabilities:                e.Capabilities(),
		RequestMetadata:             map[string]any{},
	}
}
