package trail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// canonicalizeReference is Canonicalize written plainly on encoding/json's
// tokenizer: slower, but easy to check against RFC 8785 by reading. The
// tests hold the real one to it.
func canonicalizeReference(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var b bytes.Buffer
	b.Grow(len(data))
	if err := refValue(&b, dec); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("canonical JSON: data after the top-level value")
	}
	return b.Bytes(), nil
}

func refValue(b *bytes.Buffer, dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("canonical JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return refObject(b, dec)
		case '[':
			return refArray(b, dec)
		}
		return fmt.Errorf("canonical JSON: unexpected %q", t)
	case string:
		refString(b, t)
	case json.Number:
		return refNumber(b, t)
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	}
	return nil
}

func refObject(b *bytes.Buffer, dec *json.Decoder) error {
	type member struct {
		name  string
		value []byte
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("canonical JSON: %w", err)
		}
		name := tok.(string) // the decoder only yields strings in name position
		var v bytes.Buffer
		if err := refValue(&v, dec); err != nil {
			return err
		}
		members = append(members, member{name, v.Bytes()})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("canonical JSON: %w", err)
	}
	slices.SortFunc(members, func(x, y member) int { return compareUTF16(x.name, y.name) })
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			if members[i-1].name == m.name {
				return fmt.Errorf("canonical JSON: duplicate member %q", m.name)
			}
			b.WriteByte(',')
		}
		refString(b, m.name)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return nil
}

func refArray(b *bytes.Buffer, dec *json.Decoder) error {
	b.WriteByte('[')
	for i := 0; dec.More(); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := refValue(b, dec); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return fmt.Errorf("canonical JSON: %w", err)
	}
	b.WriteByte(']')
	return nil
}

// refString writes s quoted with JCS escaping: only the quote, the
// backslash and control characters are escaped, the latter by their short
// form where JSON has one and as lower-case \u00xx otherwise.
func refString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r) // invalid UTF-8 becomes U+FFFD, as the decoder also does
			i += size
			continue
		}
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xF])
			} else {
				b.WriteByte(c)
			}
		}
		i++
	}
	b.WriteByte('"')
}

func refNumber(b *bytes.Buffer, n json.Number) error {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return fmt.Errorf("canonical JSON: number %s is not an IEEE-754 double", n)
	}
	b.WriteString(formatES6(f))
	return nil
}

// canonicalCorpus holds documents that exercise the corners of JSON and JCS,
// valid and not.
var canonicalCorpus = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `-0.0`, `1E400`, `-1e-400`, `true`, `false`, `null`, ` [ 1 , 2 ] `,
	`{"b":1,"a":2,"c":{"z":[],"y":{}}}`, `{"a":1,"a":1}`, `{"\u0061":1,"a":2}`,
	`[0.1, 1e21, 1e-7, 123456789012345678901234567890, 5e-324, 1.7976931348623157e308, -1.5E+3]`,
	`["\ud83d\ude00", "\ud800", "\ud800x", "\udc00\ud800", "\ud800\u0041", "\ud800\uZZZZ", "\/\b\f\n\r\t\"\\"]`,
	"[\"\xff\", \"a\xc3\", \"\xed\xa0\x80\", \"\u2028\u2029<>&\u007f\"]",
	"\"\x01\"", `"\x"`, `"\u12"`, `"abc`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `[01]`, `[1.]`, `[.5]`, `[+1]`, `[1e]`,
	`[-]`, `nul`, `truex`, `[1] x`, ``, `   `, `{"a":[1,{"b":null}],"":""}`,
	`{"€":1,"\r":2,"דּ":3,"1":4,"😀":5,"\u0080":6,"ö":7}`, `{"\ue000":1,"\ud83d\ude00":2}`,
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
}

// randomJSON writes a random, mostly valid JSON document with the features
// canonicalisation must get right: member order, duplicate names, escapes,
// surrogates, invalid UTF-8, number spellings and whitespace.
func randomJSON(r *rand.Rand, b *strings.Builder, depth int) {
	space := func() {
		for r.IntN(4) == 0 {
			b.WriteString([]string{" ", "\n", "\t", "\r"}[r.IntN(4)])
		}
	}
	space()
	switch n := r.IntN(10); {
	case depth > 3 || n < 4:
		switch r.IntN(3) {
		case 0:
			b.WriteString(randomNumber(r))
		case 1:
			b.WriteString(randomString(r))
		default:
			b.WriteString([]string{"true", "false", "null"}[r.IntN(3)])
		}
	case n < 7:
		b.WriteByte('[')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			randomJSON(r, b, depth+1)
		}
		b.WriteByte(']')
	default:
		b.WriteByte('{')
		for i := range r.IntN(5) {
			if i > 0 {
				b.WriteByte(',')
			}
			space()
			b.WriteString(randomString(r))
			space()
			b.WriteByte(':')
			randomJSON(r, b, depth+1)
		}
		b.WriteByte('}')
	}
	space()
}

func randomNumber(r *rand.Rand) string {
	var s string
	if r.IntN(3) == 0 {
		s = "-"
	}
	if r.IntN(4) == 0 {
		s += "0"
	} else {
		s += strconv.Itoa(1 + r.IntN(9))
		for range r.IntN(20) {
			s += strconv.Itoa(r.IntN(10))
		}
	}
	if r.IntN(2) == 0 {
		s += "."
		for range 1 + r.IntN(18) {
			s += strconv.Itoa(r.IntN(10))
		}
	}
	if r.IntN(3) == 0 {
		s += []string{"e", "E", "e+", "e-", "E-"}[r.IntN(5)] + strconv.Itoa(r.IntN(330))
	}
	return s
}

func randomString(r *rand.Rand) string {
	pieces := []string{
		"a", "b", "c", "key", "é", "€", "😀", "דּ", "\ue000", "\u007f", "\u2028",
		`\n`, `\"`, `\\`, `\/`, `\t`, `\u00e9`, `\u001f`, `\ud83d\ude00`, `\ud800`, `\udfff`, `\u0041`,
		"\xff", "\xc3", "\x01", `\q`, // invalid: a raw byte that is not UTF-8, a control character, a bad escape
	}
	var b strings.Builder
	b.WriteByte('"')
	for range r.IntN(4) {
		p := pieces[r.IntN(len(pieces))]
		if (p == "\x01" || p == `\q`) && r.IntN(10) != 0 {
			continue // keep most documents valid
		}
		b.WriteString(p)
	}
	b.WriteByte('"')
	return b.String()
}

// sameCanonicalForm checks that Canonicalize and the reference agree on doc:
// the same output, or both an error.
func sameCanonicalForm(t *testing.T, doc []byte) {
	t.Helper()
	got, err := Canonicalize(doc)
	want, refErr := canonicalizeReference(doc)
	switch {
	case (err != nil) != (refErr != nil):
		t.Fatalf("%.200q: error %v, the reference's %v", doc, err, refErr)
	case err == nil && !bytes.Equal(got, want):
		t.Fatalf("%.200q:\ngot       %.200s\nreference %.200s", doc, got, want)
	case err == nil && !utf8.Valid(got):
		t.Fatalf("%.200q: the canonical form %.200q is not UTF-8", doc, got)
	}
}

func TestCanonicalizeAgreesWithTheReferenceOnTheCorpus(t *testing.T) {
	for _, doc := range canonicalCorpus {
		sameCanonicalForm(t, []byte(doc))
	}
}

func TestCanonicalizeAgreesWithTheReferenceOnRandomDocuments(t *testing.T) {
	r := rand.New(rand.NewPCG(8785, 1))
	valid := 0
	for range 20000 {
		var b strings.Builder
		randomJSON(r, &b, 0)
		doc := []byte(b.String())
		if r.IntN(20) == 0 && len(doc) > 1 { // damage a few
			i := r.IntN(len(doc))
			doc = slices.Delete(doc, i, i+1)
		}
		sameCanonicalForm(t, doc)
		if _, err := Canonicalize(doc); err == nil {
			valid++
		}
	}
	if valid < 10000 {
		t.Fatalf("only %d of the random documents were valid: the generator tests too little", valid)
	}
}

// The reference, on encoding/json's tokenizer, has no nesting limit; Canonicalize
// keeps encoding/json's limit of 10000, so a hostile document cannot exhaust the stack.
func TestCanonicalizeRefusesNestingBeyondEncodingJSONsLimit(t *testing.T) {
	doc := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if _, err := Canonicalize([]byte(doc)); err == nil || !strings.Contains(err.Error(), "nested more than 10000 levels deep") {
		t.Fatalf("got %v", err)
	}
	if err := json.Unmarshal([]byte(doc), new(any)); err == nil {
		t.Fatal("encoding/json accepts the document too")
	}
}

func FuzzCanonicalize(f *testing.F) {
	for _, doc := range canonicalCorpus {
		if len(doc) < 1000 { // deep nesting makes the fuzzer crawl
			f.Add([]byte(doc))
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		sameCanonicalForm(t, doc)
	})
}
