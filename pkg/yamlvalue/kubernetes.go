package yamlvalue

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// FromManifestNode converts a node of a Kubernetes manifest (a document or any node in
// it) to the JSON-shaped value Kubernetes reads from the same text: what
// sigs.k8s.io/yaml.YAMLToJSON makes of it, decoded with json.Decoder.UseNumber. src is
// the text the node was parsed from; its line and column numbers point into it.
//
// yaml.v3 gives the structure and the lines; the values follow go-yaml v2, which
// sigs.k8s.io/yaml uses: scalars resolve by YAML 1.1's rules (see resolvePlain), keys
// become JSON keys as sigs.k8s.io/yaml writes them, and a merge key sets the merged keys
// where it stands, so keys after it override them and it overrides keys before it.
// Where Kubernetes would refuse the document (NaN, a null key, excessive aliasing) or
// could read it either way (two keys that become the same JSON key), FromManifestNode
// returns a *LineError.
func FromManifestNode(n *yaml.Node, src []byte) (any, error) {
	c := manifestConverter{tags: tagFinder{src: src, root: n}}
	return c.value(n, 0)
}

// LineError is a problem at a line of the text a node was parsed from.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// errAt makes a LineError.
func errAt(line int, format string, args ...any) error {
	return &LineError{Line: line, Err: fmt.Errorf(format, args...)}
}

// manifestConverter converts the nodes of one document as go-yaml v2 decodes them into
// an interface{}, counting decodes as v2 does to refuse the same excessive aliasing.
type manifestConverter struct {
	tags       tagFinder
	decodes    int
	aliased    int                 // decodes inside an alias
	aliasDepth int                 // aliases being expanded
	expanding  map[*yaml.Node]bool // the alias nodes being expanded
}

// go-yaml v2's bounds on the share of decodes made through aliases.
const (
	aliasRatioRangeLow  = 400000
	aliasRatioRangeHigh = 4000000
)

func allowedAliasRatio(decodes int) float64 {
	switch {
	case decodes <= aliasRatioRangeLow:
		return 0.99
	case decodes >= aliasRatioRangeHigh:
		return 0.10
	}
	return 0.99 - 0.89*float64(decodes-aliasRatioRangeLow)/float64(aliasRatioRangeHigh-aliasRatioRangeLow)
}

// count records one decode of n, as go-yaml v2's unmarshal does.
func (c *manifestConverter) count(n *yaml.Node) error {
	c.decodes++
	if c.aliasDepth == 0 {
		return nil
	}
	c.aliased++
	if c.aliased > 100 && c.decodes > 1000 && float64(c.aliased)/float64(c.decodes) > allowedAliasRatio(c.decodes) {
		return errAt(n.Line, "the document contains excessive aliasing, which Kubernetes refuses")
	}
	return nil
}

// enter starts decoding the node alias n stands for, which leave ends.
func (c *manifestConverter) enter(n *yaml.Node) error {
	if c.expanding[n] {
		return errAt(n.Line, "anchor %q contains an alias of itself", n.Value)
	}
	if c.expanding == nil {
		c.expanding = map[*yaml.Node]bool{}
	}
	c.expanding[n] = true
	c.aliasDepth++
	return nil
}

func (c *manifestConverter) leave(n *yaml.Node) {
	c.aliasDepth--
	delete(c.expanding, n)
}

// value converts n, nested depth levels deep.
func (c *manifestConverter) value(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errAt(n.Line, "nested more than %d levels deep", maxDepth)
	}
	if err := c.count(n); err != nil {
		return nil, err
	}
	switch n.Kind {
	case 0: // an empty input decodes to a zero node
		return nil, nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		if err := c.enter(n); err != nil {
			return nil, err
		}
		v, err := c.value(n.Alias, depth+1)
		c.leave(n)
		return v, err
	case yaml.MappingNode:
		m := pairs{out: make(map[string]any, len(n.Content)/2)}
		if err := c.mappingInto(&m, n, depth); err != nil {
			return nil, err
		}
		return m.out, nil
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := c.value(item, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.ScalarNode:
		if isString(n) {
			return n.Value, nil
		}
		x, err := c.scalar(n, false)
		if err != nil {
			return nil, err
		}
		v, err := jsonValue(x)
		if err != nil {
			return nil, &LineError{Line: n.Line, Err: err}
		}
		return v, nil
	}
	return nil, errAt(n.Line, "unsupported YAML node")
}

// pairs is a mapping being built: the JSON object, and the keys go-yaml v2 decoded
// that are not the strings they became, to find keys that v2 holds apart but JSON
// cannot (1 and "1").
type pairs struct {
	out   map[string]any
	typed map[string]any
}

// set gives key k, which v2 decoded as typed (nil: the string k), the value v. A key v2
// decoded the same way again replaces the value, as in v2; a different one that became
// the same JSON key is an error, as sigs.k8s.io/yaml would keep either value at random.
func (m *pairs) set(typed any, k string, v any, line int) error {
	if s, ok := typed.(string); ok && s == k {
		typed = nil
	}
	n := len(m.out)
	m.out[k] = v
	if len(m.out) == n { // k was there
		if prev := m.typed[k]; prev != typed {
			return errAt(line, "key %s and key %s are both %q in JSON, and Kubernetes would keep either value; write the key once",
				describeKey(prev, k), describeKey(typed, k), k)
		}
	}
	if typed != nil {
		if m.typed == nil {
			m.typed = map[string]any{}
		}
		m.typed[k] = typed
	}
	return nil
}

// describeKey names a key as v2 decoded it (nil: the string k): a string quoted, else
// its type and value.
func describeKey(typed any, k string) string {
	if typed == nil {
		typed = k
	}
	if s, ok := typed.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v (%T)", typed, typed)
}

// mappingInto decodes the pairs of mapping n into m in order, merge keys included.
func (c *manifestConverter) mappingInto(m *pairs, n *yaml.Node, depth int) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		merge, err := c.isMerge(key)
		if err != nil {
			return err
		}
		if merge {
			if err := c.merge(m, val, depth+1); err != nil {
				return err
			}
			continue
		}
		typed, k, err := c.key(key, depth+1)
		if err != nil {
			return err
		}
		v, err := c.value(val, depth+1)
		if err != nil {
			return err
		}
		if err := m.set(typed, k, v, key.Line); err != nil {
			return err
		}
	}
	return nil
}

// isMerge reports whether key is a merge key as go-yaml v2 sees one: "<<" plain or
// tagged !!merge, or tagged "!" whatever its style.
func (c *manifestConverter) isMerge(key *yaml.Node) (bool, error) {
	if key.Kind != yaml.ScalarNode || key.Value != "<<" {
		return false, nil
	}
	if key.Tag == "!!merge" {
		return true, nil // yaml.v3 tags a plain "<<" so too
	}
	if key.Style&yaml.TaggedStyle != 0 {
		return false, nil
	}
	return c.tags.nonSpecific(key, true)
}

// merge applies a merge key's value, a mapping, an alias of one, or a sequence of them
// of which the earlier win, to m where the merge key stands.
func (c *manifestConverter) merge(m *pairs, val *yaml.Node, depth int) error {
	isMap := func(n *yaml.Node) bool {
		return n.Kind == yaml.MappingNode || n.Kind == yaml.AliasNode && n.Alias != nil && n.Alias.Kind == yaml.MappingNode
	}
	sources := []*yaml.Node{val}
	if val.Kind == yaml.SequenceNode {
		sources = val.Content
	}
	for i := len(sources) - 1; i >= 0; i-- {
		src := sources[i]
		if !isMap(src) {
			return errAt(src.Line, "a merge key (<<) needs a mapping or a sequence of mappings")
		}
		if err := c.mergeSource(m, src, depth); err != nil {
			return err
		}
	}
	return nil
}

// mergeSource decodes mapping n, or the mapping alias n stands for, into m.
func (c *manifestConverter) mergeSource(m *pairs, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return errAt(n.Line, "nested more than %d levels deep", maxDepth)
	}
	if err := c.count(n); err != nil {
		return err
	}
	if n.Kind == yaml.AliasNode {
		if err := c.enter(n); err != nil {
			return err
		}
		err := c.mergeSource(m, n.Alias, depth+1)
		c.leave(n)
		return err
	}
	return c.mappingInto(m, n, depth)
}

// key decodes a mapping key: the value go-yaml v2 gives it (nil when it is the string
// it becomes) and the JSON key it becomes.
func (c *manifestConverter) key(n *yaml.Node, depth int) (any, string, error) {
	if depth > maxDepth {
		return nil, "", errAt(n.Line, "nested more than %d levels deep", maxDepth)
	}
	if err := c.count(n); err != nil {
		return nil, "", err
	}
	switch n.Kind {
	case yaml.AliasNode:
		if err := c.enter(n); err != nil {
			return nil, "", err
		}
		typed, k, err := c.key(n.Alias, depth+1)
		c.leave(n)
		return typed, k, err
	case yaml.ScalarNode:
		if isString(n) {
			return nil, n.Value, nil
		}
		typed, err := c.scalar(n, true)
		if err != nil {
			return nil, "", err
		}
		k, err := jsonKey(typed)
		if err != nil {
			return nil, "", &LineError{Line: n.Line, Err: err}
		}
		return typed, k, nil
	}
	return nil, "", errAt(n.Line, "a mapping key must be a plain value")
}

// The styles of scalars that are strings unless tagged.
const notPlain = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle

// isString reports whether scalar n is, as go-yaml v2 reads it, the string written:
// untagged and quoted, a block scalar, or plain but not what mayResolve finds. A tag
// "!" would make it that string too.
func isString(n *yaml.Node) bool {
	return n.Style&yaml.TaggedStyle == 0 && (n.Style&notPlain != 0 || !mayResolve(n.Value))
}

// scalar resolves a scalar node, a mapping key if key, as go-yaml v2 does.
func (c *manifestConverter) scalar(n *yaml.Node, key bool) (any, error) {
	if n.Style&yaml.TaggedStyle != 0 {
		v, err := resolveTagged(n.ShortTag(), n.Value)
		if err != nil {
			return nil, &LineError{Line: n.Line, Err: err}
		}
		return v, nil
	}
	if n.Style&notPlain != 0 {
		return n.Value, nil
	}
	v, _ := resolvePlain(n.Value)
	if _, isString := v.(string); isString {
		return v, nil // a tag "!" would make it the same string
	}
	tagged, err := c.tags.nonSpecific(n, key)
	if err != nil {
		return nil, err
	}
	if tagged {
		return n.Value, nil // "! 12": v2 resolves nothing tagged "!"
	}
	return v, nil
}

// tagFinder tells which scalars of a document carry the non-specific tag "!", which
// go-yaml v2 reads as "a string" and yaml.v3 drops without a trace but for the node's
// line and column: those of its first property, the tag or an anchor before it. Nodes
// tagged otherwise have yaml.TaggedStyle.
type tagFinder struct {
	src  []byte
	root *yaml.Node

	indexed bool
	bang    bool  // src holds a '!' at all
	lines   []int // offset of the start of each line
	// the last position found, where the next search starts if it is further on the
	// same line: nodes come mostly in the order of the text
	lastLine, lastCol, lastOff int
	found                      map[*yaml.Node]bool     // the answers so far, as aliases repeat nodes
	marks                      map[[2]int][]*yaml.Node // nodes by position in document order, when needed
}

// nonSpecific reports whether scalar n, a mapping key if key, is tagged "!".
func (t *tagFinder) nonSpecific(n *yaml.Node, key bool) (bool, error) {
	if !t.indexed {
		t.index()
	}
	if !t.bang {
		return false, nil
	}
	if t.lines == nil {
		return false, errAt(n.Line, "cannot check the tags of a document that is not UTF-8; convert it to UTF-8")
	}
	tagged, ok := t.found[n]
	if !ok {
		var err error
		if tagged, err = t.find(n, key); err != nil {
			return false, err
		}
		if t.found == nil {
			t.found = map[*yaml.Node]bool{}
		}
		t.found[n] = tagged
	}
	return tagged, nil
}

// find is nonSpecific for a node not seen before. The text at n's position starts with
// its tag, perhaps after an anchor, when n is tagged. But yaml.v3 places an empty value
// without properties where the token after it starts (or, after a comment, anywhere
// near): a '!' there may be another node's tag, or a tag on no node at all. For an
// empty value, find answers only when the text tells which.
func (t *tagFinder) find(n *yaml.Node, key bool) (bool, error) {
	mark := t.offset(n.Line, n.Column)
	if mark < 0 || mark >= len(t.src) {
		return false, nil // an empty scalar at the end
	}
	off := mark
	if t.src[off] == '&' { // an anchor, then perhaps a tag
		if n.Anchor == "" {
			return false, nil // the properties of another node, or of none
		}
		off++
		for off < len(t.src) && isAnchorChar(t.src[off]) {
			off++
		}
		off = t.skipSeparation(off)
	}
	if off >= len(t.src) || t.src[off] != '!' {
		return false, nil
	}
	if off > t.lines[0] && t.src[off-1] == '#' {
		return false, nil // in a comment, where yaml.v3 may place an empty value
	}
	if n.Value != "" {
		return true, nil // the properties before a scalar are its own
	}
	// An empty scalar. Of the nodes starting at one place, the last owns the
	// properties there: the others hold it (a mapping starts where its first key does)
	// or are empty values placed there.
	if t.marks == nil {
		t.marks = map[[2]int][]*yaml.Node{}
		t.mark(t.root, 0)
	}
	at := t.marks[[2]int{n.Line, n.Column}]
	switch {
	case len(at) == 0: // not under the root: nothing tells
	case at[len(at)-1] != n:
		return false, nil // the properties of a later node
	case off != mark:
		if len(t.marks[t.position(off)]) > 0 {
			return false, nil // the tag of another node
		}
		if !bytes.ContainsAny(t.src[mark:off], "\n\r") {
			return true, nil // "&a !"
		}
	case key || len(at) > 1 || t.afterIndicator(off):
		// An empty key without properties starts at its ':' or after its '?', never
		// at a tag.
		return true, nil // "! : x", "a: !", "- !", "[!]"
	}
	return false, errAt(n.Line, "cannot tell whether the tag ! belongs to the empty value; write the value, or quote it")
}

// afterIndicator reports whether the token at off follows, on its line, one of the
// indicators after which a node starts.
func (t *tagFinder) afterIndicator(off int) bool {
	for off--; off >= 0 && (t.src[off] == ' ' || t.src[off] == '\t'); off-- {
	}
	return off >= 0 && strings.IndexByte(":-?[{,", t.src[off]) >= 0
}

// position gives the 1-based line and column (in characters) of byte offset off.
func (t *tagFinder) position(off int) [2]int {
	line := sort.Search(len(t.lines), func(i int) bool { return t.lines[i] > off }) // the line after
	return [2]int{line, 1 + utf8.RuneCount(t.src[t.lines[line-1]:off])}
}

// index finds '!' and the starts of lines, after yaml.v3's line breaks (CR LF, CR, LF,
// NEL, LS and PS) and past a byte order mark, which takes no column.
func (t *tagFinder) index() {
	t.indexed = true
	if t.bang = bytes.IndexByte(t.src, '!') >= 0; !t.bang || !utf8.Valid(t.src) {
		return
	}
	start := 0
	if bytes.HasPrefix(t.src, []byte("\ufeff")) {
		start = 3
	}
	t.lines = append(t.lines, start)
	for i := start; i < len(t.src); {
		r, size := utf8.DecodeRune(t.src[i:])
		i += size
		switch {
		case r == '\r' && i < len(t.src) && t.src[i] == '\n':
			i++
			t.lines = append(t.lines, i)
		case r == '\r' || r == '\n' || r == 0x85 || r == 0x2028 || r == 0x2029:
			t.lines = append(t.lines, i)
		}
	}
}

// offset gives the byte offset of 1-based line and column (in characters), or -1.
func (t *tagFinder) offset(line, col int) int {
	if line < 1 || line > len(t.lines) || col < 1 {
		return -1
	}
	off, c := t.lines[line-1], 1
	if line == t.lastLine && col >= t.lastCol {
		off, c = t.lastOff, t.lastCol
	}
	for ; c < col; c++ {
		if off >= len(t.src) {
			return -1
		}
		_, size := utf8.DecodeRune(t.src[off:])
		off += size
	}
	if off >= len(t.src) {
		return -1
	}
	t.lastLine, t.lastCol, t.lastOff = line, col, off
	return off
}

// skipSeparation moves past spaces, tabs, line breaks and comments.
func (t *tagFinder) skipSeparation(off int) int {
	for off < len(t.src) {
		switch t.src[off] {
		case ' ', '\t', '\n', '\r':
			off++
		case '#':
			for off < len(t.src) && t.src[off] != '\n' && t.src[off] != '\r' {
				off++
			}
		default:
			return off
		}
	}
	return off
}

// isAnchorChar reports whether c may be part of an anchor's name.
func isAnchorChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
}

// mark records the position of every node under n, aliases not followed.
func (t *tagFinder) mark(n *yaml.Node, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	pos := [2]int{n.Line, n.Column}
	t.marks[pos] = append(t.marks[pos], n)
	for _, child := range n.Content {
		t.mark(child, depth+1)
	}
}
