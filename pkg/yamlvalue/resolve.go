package yamlvalue

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kubernetes reads manifests with sigs.k8s.io/yaml: go-yaml v2, which resolves scalars
// by YAML 1.1's rules (yes, on and y are true; 0777 is octal; 1_000 is 1000), decodes
// into interface{}, and the result is written out as JSON. The functions here give the
// values of that JSON, decoded with json.Decoder.UseNumber: a resolved scalar is a
// string, bool, nil, int64, uint64 or float64 (yaml11 values), which jsonValue and
// jsonKey turn into what the JSON holds.

// The short tags go-yaml v2 resolves.
const (
	strTag       = "!!str"
	boolTag      = "!!bool"
	intTag       = "!!int"
	floatTag     = "!!float"
	nullTag      = "!!null"
	timestampTag = "!!timestamp"
	binaryTag    = "!!binary"
)

// yaml11Word gives the value of a plain scalar go-yaml v2 finds in its table of words
// (booleans, nulls, infinities and NaN), and whether it is one. None is longer than 5
// bytes.
func yaml11Word(s string) (any, bool) {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true, true
	case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false, true
	case "", "~", "null", "Null", "NULL":
		return nil, true
	case ".nan", ".NaN", ".NAN":
		return math.NaN(), true
	case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
		return math.Inf(1), true
	case "-.inf", "-.Inf", "-.INF":
		return math.Inf(-1), true
	}
	return nil, false
}

// yaml11Float is go-yaml v2's pattern of a float, tried after integers.
var yaml11Float = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// mayResolve reports whether go-yaml v2 may resolve the plain scalar s to something
// other than a string: s is empty, or starts with a sign, a digit, '.', '~' or the
// first letter of a boolean or null (y, n, t, f, o, in either case) and is no longer
// than those words when it starts with a letter. Most scalars are not, and need no
// more looking at.
func mayResolve(s string) bool {
	const (
		below64 = 1<<'+' | 1<<'-' | 1<<'.' | 0x3ff<<'0'
		from64  = 1<<('F'-64) | 1<<('N'-64) | 1<<('O'-64) | 1<<('T'-64) | 1<<('Y'-64) |
			1<<('f'-64) | 1<<('n'-64) | 1<<('o'-64) | 1<<('t'-64) | 1<<('y'-64) | 1<<('~'-64)
	)
	if s == "" {
		return true
	}
	c := s[0]
	if c < 64 {
		return below64>>c&1 != 0
	}
	return len(s) <= 5 && c < 128 && from64>>(c-64)&1 != 0
}

// resolvePlain resolves an untagged plain scalar as go-yaml v2 does, giving its yaml11
// value and tag; a timestamp stays the string written, as v2 leaves it in an interface{}.
func resolvePlain(s string) (v any, tag string) {
	if s == "" {
		return nil, nullTag
	}
	switch c := s[0]; {
	case c == 'y' || c == 'Y' || c == 'n' || c == 'N' || c == 't' || c == 'T' ||
		c == 'f' || c == 'F' || c == 'o' || c == 'O' || c == '~':
		if v, ok := yaml11Word(s); ok {
			return v, tagOf(v)
		}
	case c == '.':
		if v, ok := yaml11Word(s); ok {
			return v, floatTag
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, floatTag
		}
	case c == '+' || c == '-' || c >= '0' && c <= '9':
		if v, ok := yaml11Word(s); ok { // +.inf, -.inf
			return v, floatTag
		}
		if isTimestamp(s) {
			return s, timestampTag
		}
		return resolveNumber(s)
	}
	return s, strTag
}

// resolveNumber is the part of go-yaml v2's resolve that reads a scalar starting with a
// sign or a digit, once it is known not to be a timestamp.
func resolveNumber(s string) (any, string) {
	plain := strings.ReplaceAll(s, "_", "")
	if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return i, intTag
	}
	if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return u, intTag
	}
	if yaml11Float.MatchString(plain) {
		if f, err := strconv.ParseFloat(plain, 64); err == nil {
			return f, floatTag
		}
	}
	// ParseInt with base 0 reads "0b101" and "-0b11" already; what v2's own binary
	// branch adds is a sign after the prefix ("0b-1" is -1).
	if rest, ok := strings.CutPrefix(plain, "0b"); ok {
		if i, err := strconv.ParseInt(rest, 2, 64); err == nil {
			return i, intTag
		}
		if u, err := strconv.ParseUint(rest, 2, 64); err == nil {
			return u, intTag
		}
	}
	return s, strTag
}

func tagOf(v any) string {
	switch v.(type) {
	case bool:
		return boolTag
	case nil:
		return nullTag
	}
	return floatTag
}

// resolveTagged resolves a scalar written with an explicit tag (given short, "!!int"),
// as go-yaml v2 does: !!str and unknown tags keep the text, !!binary decodes base64, and
// the other standard tags must match what the text resolves to, except that an !!float
// takes an integer.
func resolveTagged(tag, s string) (any, error) {
	switch tag {
	case strTag:
		return s, nil
	case binaryTag:
		data, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("!!binary value contains invalid base64 data")
		}
		return string(data), nil
	case boolTag, intTag, floatTag, nullTag, timestampTag:
	default:
		return s, nil
	}
	var v any
	var got string
	if tag == timestampTag && isTimestamp(s) {
		v, got = s, timestampTag
	} else if v, got = resolvePlain(s); got == timestampTag {
		// v2 tries timestamps only for untagged scalars and !!timestamp.
		v, got = resolveNumber(s)
	}
	if got == tag {
		return v, nil
	}
	if tag == floatTag {
		if i, ok := v.(int64); ok {
			return float64(i), nil
		}
	}
	return nil, fmt.Errorf("cannot decode %s `%s` as a %s", got, s, tag)
}

// yaml11Timestamps are the layouts go-yaml v2 reads timestamps with.
var yaml11Timestamps = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

// isTimestamp reports whether go-yaml v2 reads s as a timestamp.
func isTimestamp(s string) bool {
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return false
	}
	for _, layout := range yaml11Timestamps {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// jsonValue gives the JSON-shaped value of a yaml11 value: a json.Number written as
// encoding/json writes the number, a string as it reads back from JSON. JSON has no NaN
// or infinity, so Kubernetes refuses them, and so does jsonValue.
func jsonValue(x any) (any, error) {
	switch v := x.(type) {
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(v, 10)), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v is not a JSON number, so Kubernetes refuses it; quote it to make it a string", v)
		}
		return json.Number(jsonFloat(v)), nil
	case string:
		if !utf8.ValidString(v) {
			return jsonString(v), nil
		}
	}
	return x, nil
}

// jsonKey gives the JSON key a yaml11 mapping key becomes, as sigs.k8s.io/yaml writes
// it: numbers and booleans as text, floats at 32-bit precision. It refuses what
// sigs.k8s.io/yaml refuses: null keys and integers beyond int64.
func jsonKey(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return jsonString(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		switch s := strconv.FormatFloat(v, 'g', -1, 32); s {
		case "+Inf":
			return ".inf", nil
		case "-Inf":
			return "-.inf", nil
		case "NaN":
			return ".nan", nil
		default:
			return s, nil
		}
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", errors.New("a null mapping key, which Kubernetes refuses")
	}
	return "", fmt.Errorf("mapping key %v, which Kubernetes refuses (an integer beyond int64)", v)
}

// jsonFloat writes f as encoding/json does.
func jsonFloat(f float64) string {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(make([]byte, 0, 24), f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1] // e-09 is written e-9
		b = b[:n-1]
	}
	return string(b)
}

// jsonString is s as it reads back from JSON: encoding/json writes each byte that is not
// part of valid UTF-8 as U+FFFD. Only !!binary can make such strings.
func jsonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
