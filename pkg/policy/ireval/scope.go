package ireval

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
)

// A Scope is what the queries prepared under it share: the base documents, read once
// from its store, and the compiled functions. Queries on one policy set plan mostly
// the same rules, the same way; a Scope compiles each such function once, so that the
// programs of many queries cost little more than one.
type Scope struct {
	store storage.Store

	mu    sync.Mutex
	data  *ast.Term
	funcs map[[32]byte]*function // by fingerprint
	next  int                    // the next function's memo slot
}

type scopeKey struct{}

// NewScope returns a Scope whose queries read their data from store.
func NewScope(store storage.Store) *Scope {
	return &Scope{store: store, funcs: map[[32]byte]*function{}}
}

// Context returns a context under which rego's PrepareForEval, for Target, prepares
// the query in s. OPA hands a target plugin the plan but not the store, so this is how
// the store gets there. The data is read once, when the first query is prepared, as
// OPA's wasm target does: writes made to the store afterwards are not seen.
func (s *Scope) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

// WithStore returns a context under which rego's PrepareForEval, for Target, prepares
// the query in a Scope of its own, reading data from store.
func WithStore(ctx context.Context, store storage.Store) context.Context {
	return NewScope(store).Context(ctx)
}

// read returns the data, read from the store on first use.
func (s *Scope) read(ctx context.Context) (*ast.Term, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data != nil {
		return s.data, nil
	}
	data, err := storage.ReadOne(ctx, s.store, storage.RootPath)
	if err != nil {
		return nil, fmt.Errorf("ireval: read data: %w", err)
	}
	value, err := ast.InterfaceToValue(data)
	if err != nil {
		return nil, fmt.Errorf("ireval: read data: %w", err)
	}
	s.data = ast.NewTerm(value)
	return s.data, nil
}

// intern returns the Scope's function identical to fn, or fn itself, given a memo
// slot, when it is the first of its kind. Two functions are identical when their
// fingerprints, a hash of everything they are compiled to, are.
func (s *Scope) intern(fn *function) *function {
	fn.fingerprint = fingerprint(fn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if known, ok := s.funcs[fn.fingerprint]; ok {
		return known
	}
	fn.id = s.next
	s.next++
	s.funcs[fn.fingerprint] = fn
	return fn
}

// fingerprint hashes a compiled function: its signature, constants and statements,
// with the fingerprints of the functions it calls.
func fingerprint(fn *function) [32]byte {
	var e encoder
	e.str(fn.name)
	e.int(len(fn.params))
	for _, p := range fn.params {
		e.int(int(p))
	}
	e.int(int(fn.ret))
	e.int(fn.locals)
	e.bool(fn.memo)
	e.str(fn.conflict)
	e.int(len(fn.consts))
	for _, c := range fn.consts {
		e.term(c)
	}
	e.int(len(fn.blocks))
	for _, b := range fn.blocks {
		e.block(b)
	}
	return sha256.Sum256(e.buf)
}

// encoder writes what a function is compiled to as bytes, each item prefixed so that
// different functions cannot write the same bytes.
type encoder struct{ buf []byte }

func (e *encoder) int(v int) { e.buf = binary.AppendVarint(e.buf, int64(v)) }
func (e *encoder) bool(b bool) {
	if b {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}
func (e *encoder) str(s string) { e.int(len(s)); e.buf = append(e.buf, s...) }

func (e *encoder) term(t *ast.Term) {
	if t == nil {
		e.str("")
		return
	}
	e.str(ast.ValueName(t.Value) + " " + t.String())
}

func (e *encoder) block(b *block) {
	e.int(len(b.stmts))
	for i := range b.stmts {
		s := &b.stmts[i]
		e.int(int(s.op))
		e.int(int(s.a))
		e.int(int(s.b))
		e.int(int(s.target))
		e.int(s.n)
		e.term(s.k)
		e.int(len(s.args))
		for _, a := range s.args {
			e.int(int(a))
		}
		e.int(len(s.path))
		for _, a := range s.path {
			e.int(int(a))
		}
		e.int(len(s.keys))
		for _, k := range s.keys {
			e.term(k)
		}
		e.bool(s.fn != nil)
		if s.fn != nil {
			e.buf = append(e.buf, s.fn.fingerprint[:]...)
		}
		e.bool(s.bi != nil)
		if s.bi != nil {
			e.str(s.bi.name)
			// A built-in given to rego is one query's: functions calling it are not
			// shared with other queries.
			e.str(fmt.Sprintf("%p", s.bi.custom))
		}
		e.bool(s.loc != nil)
		if s.loc != nil {
			e.str(s.loc.File)
			e.int(s.loc.Row)
			e.int(s.loc.Col)
		}
		e.str(s.msg)
		e.int(len(s.blocks))
		for _, nested := range s.blocks {
			e.block(nested)
		}
		e.bool(s.body != nil)
		if s.body != nil {
			e.block(s.body)
		}
	}
}
