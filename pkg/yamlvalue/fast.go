package yamlvalue

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// fastMaxDepth bounds collection nesting on the fast path, safely below maxDepth.
	fastMaxDepth = 200
	// maxKeyLen keeps implicit keys well below yaml.v3's limit of 1024 characters.
	maxKeyLen = 1000
)

// DecodeFast decodes one YAML document (no "---" separator lines inside; the caller
// splits streams) when it stays within the subset of YAML that Kubernetes manifests use,
// giving exactly the value Kubernetes reads from it (FromManifestNode's value, see there:
// YAML 1.1 scalars, as sigs.k8s.io/yaml resolves them), and the line (1-based, within
// doc) on which the top-level node starts, as yaml.Node.Line of the document's content
// node. ok is false when the document leaves the subset, is not valid YAML, or holds
// something Kubernetes refuses (NaN, a null key): the caller then parses it with
// yaml.v3 and FromManifestNode, which report errors. A document of only blank lines and
// comments gives v == nil and line == 0.
func DecodeFast(doc []byte) (v any, line int, ok bool) {
	if !validText(doc) {
		return nil, 0, false
	}
	return decodeFast[any, map[string]any, []any](doc, goBuilder{})
}

// decodeFast is DecodeFast once doc has passed validText, building the value with b.
func decodeFast[T, M, S any, B builder[T, M, S]](doc []byte, b B) (v T, line int, ok bool) {
	p := fastParser[T, M, S, B]{src: string(doc), line: 1, b: b}
	ind := p.nextLine()
	if ind < 0 {
		return v, 0, !p.bad
	}
	line = p.line
	if p.pos += ind; p.src[p.pos] == '{' {
		v = p.flowNode()
		p.endLine()
	} else {
		v = p.blockMapping(ind)
	}
	if p.bad || p.nextLine() >= 0 || p.bad {
		var zero T
		return zero, 0, false
	}
	return v, line, true
}

// validText reports whether doc holds only characters yaml.v3 reads as themselves:
// printable UTF-8, newlines and tabs, without carriage returns, byte order marks or the
// characters YAML 1.1 treats as line breaks.
func validText(doc []byte) bool {
	for i := 0; i < len(doc); {
		if c := doc[i]; c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			i++
			continue
		}
		r, n := utf8.DecodeRune(doc[i:])
		if n <= 1 || !(r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000) ||
			r == 0xFEFF || r == 0x2028 || r == 0x2029 {
			return false
		}
		i += n
	}
	return true
}

// builder makes the values of a document for fastParser, as values of type T: Go values
// (T = any) for DecodeFast, OPA terms for DecodeFastValue. A mapping under construction
// is held as an M, a sequence as an S. Collections nest, and are finished in the reverse
// of the order they were started in. Once the parser has failed it adds nothing more to
// collections, and the builder, which may be left with unfinished ones, is dropped.
type builder[T, M, S any] interface {
	str(s string) T    // a string
	number(s string) T // a decimal integer that JSON writes back unchanged
	boolean(b bool) T
	null() T
	scalar(v any) (T, error) // a value jsonValue gives

	mapping() M
	// put adds key k with value v and reports whether k is new: a duplicate key makes
	// the parser fail, so the mapping may then be left in any state.
	put(m M, k string, v T) bool
	endMapping(m M) T // the mapping's value
	sequence() S
	add(s S, v T) S    // the sequence with item v added
	endSequence(s S) T // the sequence's value
}

// fastParser walks one document, building its value with b. A method that meets input
// outside the subset sets bad and returns a zero value; callers stop as soon as they see
// bad.
type fastParser[T, M, S any, B builder[T, M, S]] struct {
	src       string
	pos       int  // the next byte to read
	line      int  // 1-based number of the line holding pos
	lineStart int  // offset of the first byte of that line
	depth     int  // open collections
	bad       bool // the document left the subset
	b         B
}

// fail marks the document as outside the subset.
func (p *fastParser[T, M, S, B]) fail() T {
	p.bad = true
	var zero T
	return zero
}

// at returns the byte at i, or 0 at the end (validText refuses NUL bytes).
func (p *fastParser[T, M, S, B]) at(i int) byte {
	if i < len(p.src) {
		return p.src[i]
	}
	return 0
}

// blankz reports whether the byte at i is a space, a line break or the end.
func (p *fastParser[T, M, S, B]) blankz(i int) bool {
	c := p.at(i)
	return c == ' ' || c == '\n' || c == 0
}

// isDash reports whether a block sequence entry indicator starts at i.
func (p *fastParser[T, M, S, B]) isDash(i int) bool { return p.at(i) == '-' && p.blankz(i+1) }

// newline moves to the line starting at i.
func (p *fastParser[T, M, S, B]) newline(i int) {
	p.pos, p.lineStart = i, i
	p.line++
}

// skipSpaces moves past spaces on the current line.
func (p *fastParser[T, M, S, B]) skipSpaces() {
	for p.at(p.pos) == ' ' {
		p.pos++
	}
}

// skipLine moves to the start of the next line, or to the end.
func (p *fastParser[T, M, S, B]) skipLine() {
	if n := strings.IndexByte(p.src[min(p.pos, len(p.src)):], '\n'); n >= 0 {
		p.newline(p.pos + n + 1)
	} else {
		p.pos = len(p.src)
	}
}

// enter opens a collection, refusing documents nested too deeply.
func (p *fastParser[T, M, S, B]) enter() {
	if p.depth++; p.depth > fastMaxDepth {
		p.bad = true
	}
}

// nextLine moves from a line start past blank and comment lines to the start of the next
// line with content and returns its indentation, or -1 at the end of the document.
func (p *fastParser[T, M, S, B]) nextLine() int {
	for !p.bad {
		i := p.pos
		for p.at(i) == ' ' {
			i++
		}
		switch c := p.at(i); {
		case i == len(p.src):
			p.pos = i
			return -1
		case c == '\n' || c == '#':
			p.pos = i
			p.skipLine()
		case c == '\t' || i == p.pos &&
			(strings.HasPrefix(p.src[i:], "---") || strings.HasPrefix(p.src[i:], "...")):
			p.bad = true // a tab, or a document marker: the caller splits streams
		default:
			return i - p.pos
		}
	}
	return -1
}

// endLine consumes the rest of a line that holds only spaces and a comment.
func (p *fastParser[T, M, S, B]) endLine() {
	p.skipSpaces()
	c := p.at(p.pos)
	if c == '#' && (p.pos == 0 || p.src[p.pos-1] != ' ') || c != '#' && c != '\n' && c != 0 {
		p.bad = true
	}
	p.skipLine()
}

// blockMapping reads a block mapping whose first key starts at pos, in column ind.
func (p *fastParser[T, M, S, B]) blockMapping(ind int) T {
	m := p.b.mapping()
	for p.enter(); ; p.pos += ind {
		k := p.key(false)
		if p.bad {
			return p.fail()
		}
		if v := p.mapValue(ind); p.bad || !p.b.put(m, k, v) {
			return p.fail()
		}
		next := p.nextLine()
		if p.bad || next > ind {
			return p.fail()
		}
		if next < ind {
			p.depth--
			return p.b.endMapping(m)
		}
	}
}

// key reads an implicit key and its ':' indicator, on one line, giving the JSON key it
// becomes.
func (p *fastParser[T, M, S, B]) key(flow bool) string {
	start, plain := p.pos, false
	var k string
	if c := p.at(p.pos); c == '"' || c == '\'' {
		k = p.quoted()
	} else {
		k, plain = p.plain(flow), true
	}
	p.skipSpaces()
	if p.at(p.pos) != ':' || (plain || !flow) && !p.blankz(p.pos+1) ||
		p.pos-start > maxKeyLen || plain && k == "<<" {
		p.bad = true // not a key, too long a key, or a merge key
		return ""
	}
	p.pos++
	if !plain || p.bad || !mayResolve(k) {
		return k
	}
	return p.plainKey(k)
}

// plainKey gives the JSON key of a plain key that may be a YAML 1.1 word or a number: a
// key go-yaml v2 resolves to a number or a boolean becomes its text ("1", "true"), as
// sigs.k8s.io/yaml writes it.
func (p *fastParser[T, M, S, B]) plainKey(s string) string {
	var v any
	if s[0] >= 'A' { // a letter or '~': a word or a string
		var word bool
		if v, word = yaml11Word(s); !word {
			return s
		}
	} else {
		v, _ = resolvePlain(s)
		if _, isString := v.(string); isString {
			return s // "1.2.3"
		}
	}
	k, err := jsonKey(v)
	if err != nil {
		p.bad = true // a null key: left to FromManifestNode, which reports it
	}
	return k
}

// mapValue reads the value after the ':' of a key in column ind.
func (p *fastParser[T, M, S, B]) mapValue(ind int) T {
	p.skipSpaces()
	if c := p.at(p.pos); c != '\n' && c != '#' && c != 0 {
		return p.inlineValue(ind)
	}
	return p.nextLines(ind, true)
}

// nextLines reads a value that starts on a following line, after a key or a '-' of a
// collection in column ind: a more indented block collection or, when sameIndent, a
// sequence in column ind, which YAML allows as a mapping value. Otherwise it is null.
func (p *fastParser[T, M, S, B]) nextLines(ind int, sameIndent bool) T {
	p.skipLine()
	next := p.nextLine()
	if next < ind || next == ind && !(sameIndent && p.isDash(p.pos+ind)) {
		return p.b.null()
	}
	if p.pos += next; p.isDash(p.pos) {
		return p.blockSeq(next)
	}
	return p.blockMapping(next)
}

// blockSeq reads a block sequence whose first '-' is at pos, in column ind.
func (p *fastParser[T, M, S, B]) blockSeq(ind int) T {
	s := p.b.sequence()
	for p.enter(); !p.bad; p.pos += ind {
		p.pos++
		v := p.seqItem(ind)
		if p.bad {
			return p.fail()
		}
		s = p.b.add(s, v)
		next := p.nextLine()
		if p.bad || next > ind {
			return p.fail()
		}
		if next < ind || !p.isDash(p.pos+ind) {
			p.depth--
			return p.b.endSequence(s)
		}
	}
	return p.fail()
}

// seqItem reads the entry after a '-' of a block sequence in column ind.
func (p *fastParser[T, M, S, B]) seqItem(ind int) T {
	p.skipSpaces()
	switch c := p.at(p.pos); {
	case c == '\n' || c == '#' || c == 0:
		return p.nextLines(ind, false)
	case p.isDash(p.pos):
		return p.fail() // "- - x" is outside the subset
	}
	save := p.pos
	p.key(false)
	isKey := !p.bad
	p.pos, p.bad = save, false
	if isKey {
		return p.blockMapping(p.pos - p.lineStart) // "- key: value"
	}
	return p.inlineValue(ind)
}

// inlineValue reads a value starting at pos in block context, to the end of its line
// (or of its block scalar); ind is the column of the collection holding it.
func (p *fastParser[T, M, S, B]) inlineValue(ind int) T {
	var v T
	switch p.src[p.pos] {
	case '|', '>':
		return p.blockScalar(ind)
	case '[', '{':
		v = p.flowNode()
	case '"', '\'':
		v = p.b.str(p.quoted())
	default:
		v = p.resolve(p.plain(false))
	}
	p.endLine()
	return v
}

// isFlowIndicator reports whether c ends a plain scalar in flow context.
func isFlowIndicator(c byte) bool {
	return c == ',' || c == '[' || c == ']' || c == '{' || c == '}' || c == '?'
}

// plain reads a one-line plain scalar, leaving pos after its last non-space character.
// It may not start with an indicator, except '-' before a character it cannot end on.
func (p *fastParser[T, M, S, B]) plain(flow bool) string {
	start, end := p.pos, p.pos
	c, next := p.at(start), p.at(start+1)
	if c == 0 || strings.IndexByte("?:,[]{}#&*!|>'\"%@` \t\n", c) >= 0 ||
		c == '-' && (p.blankz(start+1) || next == '\t' || flow && isFlowIndicator(next)) {
		p.bad = true
		return ""
	}
	for i := start; i < len(p.src); i++ {
		c := p.src[i]
		if c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '-' && c <= '9' { // the common case
			end = i + 1
			continue
		}
		if c == '\n' || c == ' ' && p.at(i+1) == '#' || c == ':' && p.blankz(i+1) ||
			flow && isFlowIndicator(c) {
			break
		}
		if c == '\t' || flow && c == ':' && isFlowIndicator(p.at(i+1)) {
			p.bad = true
			return ""
		}
		if c != ' ' {
			end = i + 1
		}
	}
	p.pos = end
	return p.src[start:end]
}

// quoted reads a single- or double-quoted scalar that ends on its line.
func (p *fastParser[T, M, S, B]) quoted() string {
	q, start := p.src[p.pos], p.pos+1
	var b []byte // a copy, made at the first escape
	for i := start; i < len(p.src) && p.src[i] != '\n'; i++ {
		switch c := p.src[i]; {
		case c == '\\' && q == '"' || c == '\'' && q == '\'' && p.at(i+1) == '\'':
			if b == nil {
				b = append(make([]byte, 0, 2*(i-start)+16), p.src[start:i]...)
			}
			var n int
			if b, n = p.escape(b, i+1); n == 0 {
				p.bad = true
				return ""
			}
			i += n
		case c == q:
			p.pos = i + 1
			if b == nil {
				return p.src[start:i]
			}
			return string(b)
		case b != nil:
			b = append(b, c)
		}
	}
	p.bad = true
	return ""
}

// escape appends the character escaped at i (after a backslash, or the first of two
// single quotes) and returns how many bytes from i the escape uses, or 0 for one outside
// the subset. yaml.v3 refuses "\/"; the other escapes it knows are left to it.
func (p *fastParser[T, M, S, B]) escape(b []byte, i int) ([]byte, int) {
	c := p.at(i)
	if k := strings.IndexByte("\\\"'ntrb0", c); k >= 0 {
		return append(b, "\\\"'\n\t\r\b\x00"[k]), 1
	}
	if c != 'u' || i+5 > len(p.src) {
		return b, 0
	}
	r, err := strconv.ParseUint(p.src[i+1:i+5], 16, 32)
	if err != nil || r >= 0xD800 && r <= 0xDFFF {
		return b, 0
	}
	return utf8.AppendRune(b, rune(r)), 5
}

// flowNode reads a flow collection or scalar on the current line.
func (p *fastParser[T, M, S, B]) flowNode() T {
	switch p.at(p.pos) {
	case '[', '{':
		return p.flowCollection()
	case '"', '\'':
		return p.b.str(p.quoted())
	}
	return p.resolve(p.plain(true))
}

// flowCollection reads a flow sequence or mapping that ends on its line.
func (p *fastParser[T, M, S, B]) flowCollection() T {
	closing, isMap := byte(']'), p.src[p.pos] == '{'
	var m M
	var seq S
	if isMap {
		closing, m = '}', p.b.mapping()
	} else {
		seq = p.b.sequence()
	}
	p.enter()
	p.pos++
	for p.skipSpaces(); !p.bad && p.at(p.pos) != closing; p.flowNext(closing) {
		if !isMap {
			if v := p.flowNode(); !p.bad {
				seq = p.b.add(seq, v)
			}
			continue
		}
		k := p.key(true)
		if p.bad {
			return p.fail()
		}
		p.skipSpaces()
		if v := p.flowNode(); p.bad || !p.b.put(m, k, v) {
			return p.fail()
		}
	}
	if p.bad {
		return p.fail()
	}
	p.pos++
	p.depth--
	if isMap {
		return p.b.endMapping(m)
	}
	return p.b.endSequence(seq)
}

// flowNext moves past the ',' after a flow entry, or onto the closing bracket. Empty
// entries and a trailing comma are outside the subset.
func (p *fastParser[T, M, S, B]) flowNext(closing byte) {
	if p.skipSpaces(); p.at(p.pos) == ',' {
		p.pos++
		p.skipSpaces()
		p.bad = p.bad || p.at(p.pos) == closing || p.at(p.pos) == ','
	} else if p.at(p.pos) != closing {
		p.bad = true
	}
}

// blockScalar reads a literal or folded block scalar whose indicator is at pos, as
// yaml.v3's yaml_parser_scan_block_scalar does; ind is the column of the collection
// holding it.
func (p *fastParser[T, M, S, B]) blockScalar(ind int) T {
	literal, keep, strip := p.src[p.pos] == '|', p.at(p.pos+1) == '+', p.at(p.pos+1) == '-'
	if p.pos++; keep || strip {
		p.pos++
	}
	p.endLine() // refuses an indentation indicator
	indent := 0
	trailing := p.blockBreaks(&indent, ind)
	b := make([]byte, 0, 64)
	leadingBreak, leadingBlank := false, false
	for !p.bad && p.pos < len(p.src) && p.pos-p.lineStart == indent {
		blank := p.src[p.pos] == ' ' || p.src[p.pos] == '\t'
		if !literal && !leadingBlank && !blank && leadingBreak {
			if trailing == 0 {
				b = append(b, ' ') // fold the line break
			}
		} else if leadingBreak {
			b = append(b, '\n')
		}
		for ; trailing > 0; trailing-- {
			b = append(b, '\n')
		}
		leadingBlank = blank
		start := p.pos
		p.skipLine()
		end := p.pos
		if leadingBreak = p.src[end-1] == '\n'; leadingBreak {
			end--
		}
		b = append(b, p.src[start:end]...)
		trailing = p.blockBreaks(&indent, ind)
	}
	if leadingBreak && !strip {
		b = append(b, '\n')
	}
	for ; keep && trailing > 0; trailing-- {
		b = append(b, '\n')
	}
	if p.pos < len(p.src) {
		p.pos = p.lineStart // the line that ended the scalar is read again
	}
	return p.b.str(string(b))
}

// blockBreaks eats indentation and empty lines in a block scalar and returns how many
// line breaks it ate, fixing the indentation at the first non-empty line when it is still
// 0, as yaml_parser_scan_block_scalar_breaks does.
func (p *fastParser[T, M, S, B]) blockBreaks(indent *int, parent int) (breaks int) {
	maxIndent := 0
	for !p.bad {
		for (*indent == 0 || p.pos-p.lineStart < *indent) && p.at(p.pos) == ' ' {
			p.pos++
		}
		maxIndent = max(maxIndent, p.pos-p.lineStart)
		if (*indent == 0 || p.pos-p.lineStart < *indent) && p.at(p.pos) == '\t' {
			p.bad = true
		}
		if p.at(p.pos) != '\n' {
			break
		}
		p.newline(p.pos + 1)
		breaks++
	}
	if *indent == 0 {
		*indent = max(maxIndent, parent+1, 1)
	}
	return breaks
}

// resolve gives the value of a plain scalar as go-yaml v2 resolves it and JSON carries
// it, answering the common cases directly and the others through resolvePlain.
func (p *fastParser[T, M, S, B]) resolve(s string) T {
	if p.bad {
		return p.fail()
	}
	switch s[0] {
	case 'y', 'Y', 'n', 'N', 't', 'T', 'f', 'F', 'o', 'O', '~':
		if len(s) > 5 { // longer than any YAML 1.1 word
			break
		}
		switch v, ok := yaml11Word(s); {
		case !ok:
		case v == nil:
			return p.b.null()
		default:
			return p.b.boolean(v.(bool))
		}
	case '+', '-', '.', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if decimal, quantity := numberShape(s); decimal {
			return p.b.number(s)
		} else if quantity {
			return p.b.str(s)
		}
		r, _ := resolvePlain(s)
		x, err := jsonValue(r)
		if err != nil {
			return p.fail() // NaN or infinity: left to FromManifestNode, which reports it
		}
		v, err := p.b.scalar(x)
		if err != nil {
			return p.fail()
		}
		return v
	}
	return p.b.str(s)
}

// numberShape tells whether s, which starts like a number, is a decimal, an int that
// JSON writes back unchanged ("0", "-12", at most 18 digits), or a quantity ("250m",
// "1Gi": a digit 1-9, then digits and ASCII letters, one of them not e or E). go-yaml v2
// reads a quantity as no int (a base prefix needs a leading 0), float (its pattern
// allows no such letter) or timestamp (which needs a '-'), so it stays a string.
func numberShape(s string) (decimal, quantity bool) {
	digits := strings.TrimPrefix(s, "-")
	if s == "0" || len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return s == "0", false
	}
	allDigits, letter := true, false
	for i := range len(digits) {
		switch c := digits[i]; {
		case c >= '0' && c <= '9':
		case c|0x20 >= 'a' && c|0x20 <= 'z':
			allDigits, letter = false, letter || c|0x20 != 'e'
		default:
			return false, false
		}
	}
	return allDigits && len(digits) <= 18, letter && s[0] != '-'
}

// goBuilder builds the Go values of DecodeFast: map[string]any, []any, string, bool,
// json.Number, float64 and nil.
type goBuilder struct{}

func (goBuilder) str(s string) any                { return s }
func (goBuilder) number(s string) any             { return json.Number(s) }
func (goBuilder) boolean(b bool) any              { return b }
func (goBuilder) null() any                       { return nil }
func (goBuilder) scalar(v any) (any, error)       { return v, nil }
func (goBuilder) mapping() map[string]any         { return map[string]any{} }
func (goBuilder) endMapping(m map[string]any) any { return m }
func (goBuilder) sequence() []any                 { return nil }
func (goBuilder) add(s []any, v any) []any        { return append(s, v) }

func (goBuilder) put(m map[string]any, k string, v any) bool {
	n := len(m)
	m[k] = v
	return len(m) > n
}

// endSequence gives an empty sequence as an empty slice, as FromNode does, not nil.
func (goBuilder) endSequence(s []any) any {
	if s == nil {
		return []any{}
	}
	return s
}
