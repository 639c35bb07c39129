package trail

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Canonicalize re-encodes a JSON document in the canonical form of RFC 8785
// (JSON Canonicalization Scheme): object members sorted by the UTF-16 code
// units of their names, no insignificant whitespace, strings with the minimal
// escaping JCS prescribes and numbers as ECMAScript prints IEEE-754 doubles.
// Duplicate member names and numbers outside the double range are errors.
// Strings are read as encoding/json reads them: invalid UTF-8 and unpaired
// surrogates become U+FFFD.
//
// It is written here rather than taken from a library because it is short and
// the trail's hashes must not change when a dependency does; it parses the
// bytes directly because every stored event is hashed, at ingest and again at
// every verification. The tests hold it to a plain encoding/json-based
// implementation.
func Canonicalize(data []byte) ([]byte, error) {
	return canonicalize(data, maxDepth)
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

func canonicalize(data []byte, depthLimit int) ([]byte, error) {
	p := canonicalizer{data: data, maxDepth: depthLimit}
	p.skipSpace()
	out, err := p.value(make([]byte, 0, len(data)), 0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(data) {
		return nil, errors.New("canonical JSON: data after the top-level value")
	}
	return out, nil
}

// canonicalizer reads one JSON document and appends its canonical form.
type canonicalizer struct {
	data     []byte
	pos      int
	maxDepth int
}

func (p *canonicalizer) fail(format string, args ...any) error {
	return fmt.Errorf("canonical JSON: offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *canonicalizer) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value appends the canonical form of the value at p.pos.
func (p *canonicalizer) value(out []byte, depth int) ([]byte, error) {
	if p.pos >= len(p.data) {
		return nil, p.fail("unexpected end of JSON input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		if depth >= p.maxDepth {
			return nil, p.fail("nested more than %d levels deep", p.maxDepth)
		}
		return p.object(out, depth+1)
	case c == '[':
		if depth >= p.maxDepth {
			return nil, p.fail("nested more than %d levels deep", p.maxDepth)
		}
		return p.array(out, depth+1)
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return appendCanonicalString(out, s), nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number(out)
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.data[p.pos:min(p.pos+len(lit), len(p.data))]), lit) {
				p.pos += len(lit)
				return append(out, lit...), nil
			}
		}
		return nil, p.fail("invalid character %q looking for a value", c)
	}
}

// member is an object member already in canonical form: out[start:end] is
// its name, a colon and its value.
type member struct {
	name       string
	start, end int
}

func (p *canonicalizer) object(out []byte, depth int) ([]byte, error) {
	p.pos++ // {
	out = append(out, '{')
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return append(out, '}'), nil
	}
	// Members are written in input order, and rearranged only if that is not
	// the canonical order.
	first := len(out)
	var members []member
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail("expected a member name")
		}
		name, err := p.string()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail("expected ':' after member name %q", name)
		}
		p.pos++
		p.skipSpace()
		if len(members) > 0 {
			out = append(out, ',')
		}
		start := len(out)
		out = appendCanonicalString(out, name)
		out = append(out, ':')
		if out, err = p.value(out, depth); err != nil {
			return nil, err
		}
		members = append(members, member{name, start, len(out)})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail("unexpected end of JSON input")
		}
		p.pos++
		if c := p.data[p.pos-1]; c == '}' {
			break
		} else if c != ',' {
			return nil, p.fail("invalid character %q after object member", c)
		}
	}
	sorted := true
	for i := 1; i < len(members); i++ {
		if c := compareUTF16(members[i-1].name, members[i].name); c > 0 {
			sorted = false
			break
		}
	}
	if !sorted {
		slices.SortStableFunc(members, func(x, y member) int { return compareUTF16(x.name, y.name) })
		written := slices.Clone(out[first:])
		out = out[:first]
		for i, m := range members {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, written[m.start-first:m.end-first]...)
		}
	}
	for i := 1; i < len(members); i++ {
		if members[i-1].name == members[i].name {
			return nil, fmt.Errorf("canonical JSON: duplicate member %q", members[i].name)
		}
	}
	return append(out, '}'), nil
}

func (p *canonicalizer) array(out []byte, depth int) ([]byte, error) {
	p.pos++ // [
	out = append(out, '[')
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return append(out, ']'), nil
	}
	for {
		p.skipSpace()
		var err error
		if out, err = p.value(out, depth); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail("unexpected end of JSON input")
		}
		p.pos++
		if c := p.data[p.pos-1]; c == ']' {
			return append(out, ']'), nil
		} else if c != ',' {
			return nil, p.fail("invalid character %q after array element", c)
		}
		out = append(out, ',')
	}
}

// string reads a JSON string at p.pos and returns it decoded.
func (p *canonicalizer) string() (string, error) {
	p.pos++ // "
	start := p.pos
	// Fast path: no escapes, valid UTF-8.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			if utf8.Valid(s) {
				p.pos++
				return string(s), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	p.pos = start
	var b []byte
	for {
		if p.pos >= len(p.data) {
			return "", p.fail("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c < 0x20:
			return "", p.fail("invalid control character %q in string", c)
		case c == '\\':
			if p.pos+1 >= len(p.data) {
				return "", p.fail("unterminated string")
			}
			esc := p.data[p.pos+1]
			p.pos += 2
			switch esc {
			case '"', '\\', '/':
				b = append(b, esc)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					// A pair becomes one character; anything else is U+FFFD, as in encoding/json.
					if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
						save := p.pos
						p.pos += 2
						if r2, ok := p.hex4(); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								b = utf8.AppendRune(b, dec)
								continue
							}
						}
						p.pos = save
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", p.fail("invalid escape \\%c in string", esc)
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			b = utf8.AppendRune(b, r) // an invalid byte becomes U+FFFD
			p.pos += size
		}
	}
}

// hex4 reads the four hex digits of a \u escape.
func (p *canonicalizer) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}

// number reads a JSON number (RFC 8259 grammar) and appends it as ES6 prints
// the nearest double.
func (p *canonicalizer) number(out []byte) ([]byte, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.data[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
	case digits() == 0:
		return nil, p.fail("invalid number %q", p.data[start:p.pos])
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.fail("invalid number %q", p.data[start:p.pos])
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.fail("invalid number %q", p.data[start:p.pos])
		}
	}
	text := string(p.data[start:p.pos])
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, fmt.Errorf("canonical JSON: number %s is not an IEEE-754 double", text)
	}
	return append(out, formatES6(f)...), nil
}

// compareUTF16 orders strings by their UTF-16 code units, as JCS sorts member
// names. Byte order agrees with it except for characters above U+FFFF against
// U+E000..U+FFFF, so only strings holding such characters are converted.
func compareUTF16(x, y string) int {
	if !hasHighRunes(x) && !hasHighRunes(y) {
		return strings.Compare(x, y)
	}
	return slices.Compare(utf16.Encode([]rune(x)), utf16.Encode([]rune(y)))
}

func hasHighRunes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xEE { // lead byte of U+E000 and above
			return true
		}
	}
	return false
}

// appendCanonicalString appends s quoted with JCS escaping: only the quote,
// the backslash and control characters are escaped, the latter by their short
// form where JSON has one and as lower-case \u00xx otherwise. s is valid UTF-8.
func appendCanonicalString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// formatES6 prints a finite double as ECMAScript's Number.prototype.toString
// does (ECMA-262 7.1.12.1), which JCS adopts: the shortest digits that read
// back as the same double, in plain notation for magnitudes in [1e-6, 1e21)
// and exponent notation otherwise.
func formatES6(f float64) string {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return "0" // also -0; NaN and infinities cannot come from JSON
	}
	var sign string
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest round-trip digits, as d.ddde±x.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mantissa, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mantissa, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k := len(digits)
	n := x + 1 // the value is 0.digits × 10^n
	var s string
	switch {
	case k <= n && n <= 21:
		s = digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		s = digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		s = "0." + strings.Repeat("0", -n) + digits
	default:
		s = digits[:1]
		if k > 1 {
			s += "." + digits[1:]
		}
		if n-1 >= 0 {
			s += "e+" + strconv.Itoa(n-1)
		} else {
			s += "e-" + strconv.Itoa(1-n)
		}
	}
	return sign + s
}
