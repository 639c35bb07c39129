package config

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var yamlErrorLine = regexp.MustCompile(`^line (\d+): `)

// syntaxErrorLine is the line of the document a yaml.v3 syntax error is on, and the
// error's message without yaml's own prefixes.
//
// yaml.v3 numbers lines from 1 in scanner errors and from 0 in parser errors, and leaves
// the line out when its count is 0 (fail() in its decode.go): so an error without a line
// is on the first line. Two kinds of error carry no position at all, and what they name
// is looked for here: a character its reader refuses, and an alias of an unknown anchor.
// An error at the end of the input is put on the last line, not the one yaml.v3 adds
// after it.
func syntaxErrorLine(doc []byte, err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlErrorLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if isParserError(msg) {
			line++
		}
	} else if offset, ok := unpositioned(doc, msg); ok {
		line = bytes.Count(doc[:offset], []byte("\n")) + 1
	}
	last := bytes.Count(bytes.TrimRight(doc, "\n"), []byte("\n")) + 1
	return min(line, last), msg
}

var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// unpositioned is the offset of what an error without a position is about, when it can
// be found.
func unpositioned(doc []byte, msg string) (int, bool) {
	if isReaderError(msg) {
		return unreadable(doc)
	}
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		i := bytes.Index(doc, []byte("*"+m[1]))
		return i, i >= 0
	}
	return 0, false
}

// parserErrors are yaml.v3's parser messages (parserc.go), whose lines count from 0.
var parserErrors = []string{
	"did not find expected", "found undefined tag handle", "found duplicate %YAML directive",
	"found incompatible YAML document", "found duplicate %TAG directive",
}

func isParserError(msg string) bool {
	for _, p := range parserErrors {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// readerErrors are yaml.v3's messages for characters it refuses (readerc.go).
var readerErrors = []string{"control characters are not allowed", "invalid leading UTF-8 octet", "incomplete UTF-8 octet sequence", "invalid trailing UTF-8 octet", "invalid length of a UTF-8 sequence", "invalid Unicode character"}

func isReaderError(msg string) bool {
	for _, r := range readerErrors {
		if strings.HasPrefix(msg, r) {
			return true
		}
	}
	return false
}

// unreadable is the offset of the first character yaml.v3's reader refuses: bytes that
// are not UTF-8, or a character outside YAML's printable set.
func unreadable(doc []byte) (int, bool) {
	for i := 0; i < len(doc); {
		r, size := utf8.DecodeRune(doc[i:])
		if r == utf8.RuneError && size <= 1 || !printable(r) {
			return i, true
		}
		i += size
	}
	return 0, false
}

// printable is YAML's set of characters a document may hold.
func printable(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0x7E || r == 0x85 ||
		r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// locate gives each of Validate's errors the line of its field in the user's document.
// A field the document does not set (it came from the defaults, or is missing) gets the
// line of the nearest enclosing field the document does set.
func locate(err error, root *yaml.Node) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	errs := joined.Unwrap()
	out := make([]error, len(errs))
	for i, e := range errs {
		if fe, ok := e.(fieldError); ok && fe.line == 0 {
			fe.line = lineOf(root, fe.path)
			e = fe
		}
		out[i] = e
	}
	return errors.Join(out...)
}

// lineOf is the line of the deepest node of path ("images.allowedRegistries[0]",
// "resources.max[limits.memory]") the document holds; 0 when it holds none of it.
func lineOf(root *yaml.Node, path string) int {
	n, line := root, 0
	for _, step := range pathSteps(path) {
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == step {
					line, next = n.Content[i].Line, n.Content[i+1]
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(step); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// pathSteps splits a field path into its keys and indexes: "a.b[c.d][0]" is a, b, c.d, 0.
func pathSteps(path string) []string {
	var steps []string
	for path != "" {
		switch {
		case path[0] == '.':
			path = path[1:]
		case path[0] == '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return append(steps, path[1:])
			}
			steps, path = append(steps, path[1:end]), path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			steps, path = append(steps, path[:end]), path[end:]
		}
	}
	return steps
}
