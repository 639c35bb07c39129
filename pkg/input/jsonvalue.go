package input

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/bailiff/bailiff/pkg/astterm"
)

const (
	// maxJSONDepth is the deepest nesting of arrays and objects accepted: encoding/json's.
	maxJSONDepth = 10000
	// smallObject is the size up to which duplicate keys are found by a linear scan.
	smallObject = 16
)

// newCommonStrings returns a table of shared terms for strs, as astterm.NewTable does.
func newCommonStrings(strs ...string) map[string]*ast.Term {
	return astterm.NewTable(strs...)
}

// ValueFromJSON decodes one JSON value into OPA's form, exactly as encoding/json with
// UseNumber followed by ast.InterfaceToValue would, in one pass: it accepts and rejects
// the same inputs, keeps numbers as their text, replaces invalid UTF-8 and lone
// surrogates with U+FFFD, and keeps the last of duplicate object keys. Terms of common
// keys and values, true, false, null and small integers are shared, so the result must
// not be modified in place.
func ValueFromJSON(data []byte) (ast.Value, error) {
	d := jsonDecoder{
		data:  data,
		alloc: astterm.NewAllocator(len(data) / 16),
		items: make([][2]*ast.Term, 0, 32),
		elems: make([]*ast.Term, 0, 16),
	}
	t, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.skipSpace(); d.pos < len(d.data) {
		return nil, d.invalid("after top-level value")
	}
	return t.Value, nil
}

// jsonDecoder is the state of one ValueFromJSON call.
type jsonDecoder struct {
	data  []byte
	pos   int
	depth int
	items [][2]*ast.Term // members of the objects being decoded, innermost last
	elems []*ast.Term    // elements of the arrays being decoded, innermost last
	alloc astterm.Allocator
	buf   []byte // scratch space for strings with escapes
}

// peek returns the byte at the current offset, or 0 at the end, which no JSON token
// starts or continues with.
func (d *jsonDecoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *jsonDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("json: %s at offset %d", fmt.Sprintf(format, args...), d.pos)
}

// invalid reports the byte at the current offset, or the end of the input.
func (d *jsonDecoder) invalid(context string) error {
	if d.pos >= len(d.data) {
		return d.errorf("unexpected end of JSON input")
	}
	return d.errorf("invalid character %q %s", rune(d.data[d.pos]), context)
}

// value decodes the value after the current offset and any space.
func (d *jsonDecoder) value() (*ast.Term, error) {
	d.skipSpace()
	switch c := d.peek(); {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.string()
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	case c == 't':
		return d.literal("true", ast.InternedBooleanTrue)
	case c == 'f':
		return d.literal("false", ast.InternedBooleanFalse)
	case c == 'n':
		return d.literal("null", ast.InternedNullTerm)
	}
	return nil, d.invalid("looking for beginning of value")
}

func (d *jsonDecoder) literal(word string, t *ast.Term) (*ast.Term, error) {
	for i := range len(word) {
		if d.peek() != word[i] {
			return nil, d.invalid("in literal " + word)
		}
		d.pos++
	}
	return t, nil
}

// open consumes an opening bracket, and the closing one if the container is empty: it
// reports whether there are members to decode.
func (d *jsonDecoder) open(close byte) (bool, error) {
	if d.depth++; d.depth > maxJSONDepth {
		return false, d.errorf("exceeded max depth %d", maxJSONDepth)
	}
	d.pos++
	if d.skipSpace(); d.peek() == close {
		d.pos++
		d.depth--
		return false, nil
	}
	return true, nil
}

// next consumes the separator after a member: it reports whether there are more.
func (d *jsonDecoder) next(close byte, context string) (bool, error) {
	d.skipSpace()
	switch d.peek() {
	case ',':
		d.pos++
		return true, nil
	case close:
		d.pos++
		d.depth--
		return false, nil
	}
	return false, d.invalid(context)
}

func (d *jsonDecoder) array() (*ast.Term, error) {
	base := len(d.elems)
	more, err := d.open(']')
	for more && err == nil {
		var t *ast.Term
		if t, err = d.value(); err == nil {
			d.elems = append(d.elems, t)
			more, err = d.next(']', "after array element")
		}
	}
	if err != nil {
		return nil, err
	}
	arr := d.alloc.Array(d.elems[base:]) // copies the elements: the stack can be reused
	d.elems = d.elems[:base]
	return arr, nil
}

func (d *jsonDecoder) object() (*ast.Term, error) {
	base := len(d.items)
	more, err := d.open('}')
	for more && err == nil {
		more, err = d.member()
	}
	if err != nil {
		return nil, err
	}
	// NewObject copies the pairs, so the stack can be reused.
	obj := ast.NewObject(dedupe(d.items[base:])...)
	d.items = d.items[:base]
	return d.alloc.Term(obj), nil
}

// member decodes one key:value pair and the separator after it.
func (d *jsonDecoder) member() (bool, error) {
	if d.skipSpace(); d.peek() != '"' {
		return false, d.invalid("looking for beginning of object key string")
	}
	key, err := d.string()
	if err != nil {
		return false, err
	}
	if d.skipSpace(); d.peek() != ':' {
		return false, d.invalid("after object key")
	}
	d.pos++
	val, err := d.value()
	if err != nil {
		return false, err
	}
	d.items = append(d.items, [2]*ast.Term{key, val})
	return d.next('}', "after object key:value pair")
}

// dedupe keeps, in place, one pair per key with the last value, as decoding into a map
// does: NewObject would keep them all.
func dedupe(items [][2]*ast.Term) [][2]*ast.Term {
	var index map[ast.String]int
	if len(items) > smallObject {
		index = make(map[ast.String]int, len(items))
	}
	n := 0
	for _, it := range items {
		key := it[0].Value.(ast.String)
		j, ok := index[key]
		if index == nil {
			j, ok = findKey(items[:n], key)
		}
		if ok {
			items[j][1] = it[1]
			continue
		}
		if index != nil {
			index[key] = n
		}
		items[n] = it
		n++
	}
	return items[:n]
}

func findKey(items [][2]*ast.Term, key ast.String) (int, bool) {
	for j, it := range items {
		if it[0].Value.(ast.String) == key {
			return j, true
		}
	}
	return 0, false
}

// number decodes a number, kept as its text, under the strict JSON grammar.
func (d *jsonDecoder) number() (*ast.Term, error) {
	start := d.pos
	if d.peek() == '-' {
		d.pos++
	}
	if d.peek() == '0' {
		d.pos++
	} else if !d.digits() {
		return nil, d.invalid("in numeric literal")
	}
	integer := true
	if d.peek() == '.' {
		d.pos++
		if !d.digits() {
			return nil, d.invalid("after decimal point in numeric literal")
		}
		integer = false
	}
	if d.peek()|0x20 == 'e' {
		if d.pos++; d.peek() == '+' || d.peek() == '-' {
			d.pos++
		}
		if !d.digits() {
			return nil, d.invalid("in exponent of numeric literal")
		}
		integer = false
	}
	text := d.data[start:d.pos]
	if integer && len(text) <= 3 { // the interned integers are -1 to 512
		if t := ast.InternedIntNumberTermFromString(string(text)); t != nil {
			return t, nil
		}
	}
	n, err := ast.NumberChecked(string(text))
	if err != nil {
		return nil, fmt.Errorf("json: number %s at offset %d: %w", text, start, err)
	}
	return d.alloc.Term(n), nil
}

// digits consumes a run of decimal digits, reporting whether there was one.
func (d *jsonDecoder) digits() bool {
	start := d.pos
	for c := d.peek(); '0' <= c && c <= '9'; c = d.peek() {
		d.pos++
	}
	return d.pos > start
}

// string decodes the string whose opening quote is at the current offset. One with
// neither escapes nor invalid UTF-8 is converted at once.
func (d *jsonDecoder) string() (*ast.Term, error) {
	start := d.pos + 1
	for i := start; i < len(d.data); {
		c := d.data[i]
		if c == '"' {
			d.pos = i + 1
			return d.alloc.StringBytes(d.data[start:i]), nil
		}
		if c == '\\' || c < ' ' {
			return d.unquote(start, i)
		}
		size := 1
		if c >= utf8.RuneSelf {
			var r rune
			if r, size = utf8.DecodeRune(d.data[i:]); r == utf8.RuneError && size == 1 {
				return d.unquote(start, i)
			}
		}
		i += size
	}
	return d.unquote(start, len(d.data))
}

// unquote decodes a string from start, the offset after its opening quote, whose bytes
// before i are plain, as encoding/json does.
func (d *jsonDecoder) unquote(start, i int) (*ast.Term, error) {
	b := append(d.buf[:0], d.data[start:i]...)
	for d.pos = i; d.pos < len(d.data); {
		switch c := d.data[d.pos]; {
		case c == '"':
			d.pos++
			d.buf = b
			return d.alloc.StringBytes(b), nil
		case c == '\\':
			var err error
			if b, err = d.escape(b); err != nil {
				return nil, err
			}
		case c < ' ':
			return nil, d.invalid("in string literal")
		default:
			r, size := utf8.DecodeRune(d.data[d.pos:]) // U+FFFD for an invalid byte
			b = utf8.AppendRune(b, r)
			d.pos += size
		}
	}
	return nil, d.invalid("")
}

// escapes maps the byte after a backslash to what it stands for, but for 'u'.
var escapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape appends what the escape sequence at the current offset stands for. A surrogate
// that is not the first of a valid pair of \u escapes becomes U+FFFD.
func (d *jsonDecoder) escape(b []byte) ([]byte, error) {
	d.pos++
	switch c := d.peek(); {
	case escapes[c] != 0:
		d.pos++
		return append(b, escapes[c]), nil
	case c != 'u':
		return nil, d.invalid("in string escape code")
	}
	r := getu4(d.data[d.pos-1:])
	if r < 0 {
		return nil, d.errorf("invalid \\u escape")
	}
	if d.pos += 5; utf16.IsSurrogate(r) {
		if r = utf16.DecodeRune(r, getu4(d.data[d.pos:])); r != utf8.RuneError {
			d.pos += 6
		}
	}
	return utf8.AppendRune(b, r), nil
}

// getu4 decodes the \uXXXX escape at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	r, err := strconv.ParseUint(string(s[2:6]), 16, 16) // no sign or underscores in base 16
	if err != nil {
		return -1
	}
	return rune(r)
}
