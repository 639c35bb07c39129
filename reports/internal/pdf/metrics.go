package pdf

import (
	"strings"
	"unicode/utf8"
)

// Glyph widths of the standard fonts for the printable ASCII range (32..126), in
// 1/1000 of the font size, from Adobe's AFM files. Other WinAnsi characters use
// the width of their nearest ASCII look-alike or an average.
var asciiWidths = [numFonts][95]uint16{
	Helvetica: {
		278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
		556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
		1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
		667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
		333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
		556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
	},
	HelveticaBold: {
		278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
		556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
		975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
		667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
		333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
		611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
	},
}

// winAnsi maps the non-Latin-1 characters of Windows-1252 to their codes.
var winAnsi = map[rune]byte{
	'€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87,
	'ˆ': 0x88, '‰': 0x89, 'Š': 0x8a, '‹': 0x8b, 'Œ': 0x8c, 'Ž': 0x8e, '‘': 0x91,
	'’': 0x92, '“': 0x93, '”': 0x94, '•': 0x95, '–': 0x96, '—': 0x97, '˜': 0x98,
	'™': 0x99, 'š': 0x9a, '›': 0x9b, 'œ': 0x9c, 'ž': 0x9e, 'Ÿ': 0x9f,
}

// Encode converts text to WinAnsiEncoding; a character it cannot represent
// becomes '?', and ≤ ≥ → become <= >= ->.
func Encode(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x80:
			out = append(out, byte(r))
		case r >= 0xa0 && r <= 0xff:
			out = append(out, byte(r))
		case winAnsi[r] != 0:
			out = append(out, winAnsi[r])
		case r == '≤':
			out = append(out, '<', '=')
		case r == '≥':
			out = append(out, '>', '=')
		case r == '→':
			out = append(out, '-', '>')
		default:
			out = append(out, '?')
		}
	}
	return out
}

// Width is how wide s is set in font f at size points.
func Width(f Font, size float64, s string) float64 {
	units := 0
	for _, c := range Encode(s) {
		units += glyphWidth(f, c)
	}
	return float64(units) * size / 1000
}

func glyphWidth(f Font, c byte) int {
	if f == Courier {
		return 600
	}
	switch {
	case c >= 32 && c <= 126:
		return int(asciiWidths[f][c-32])
	case c == 0x97: // em dash
		return 1000
	case c == 0x95: // bullet
		return 350
	case c == 0x91, c == 0x92:
		return 222
	default:
		return 556
	}
}

// Wrap breaks s into lines no wider than width, at spaces where it can and inside
// a word only when the word alone is too wide (hashes, long names).
func Wrap(f Font, size float64, s string, width float64) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		lines = append(lines, wrapParagraph(f, size, para, width)...)
	}
	return lines
}

func wrapParagraph(f Font, size float64, s string, width float64) []string {
	words := strings.Fields(s)
	if len(words) == 0 {
		return []string{""}
	}
	space := Width(f, size, " ")
	var lines []string
	var line strings.Builder
	lineWidth := 0.0
	for _, w := range words {
		ww := Width(f, size, w)
		if line.Len() > 0 && lineWidth+space+ww <= width {
			line.WriteByte(' ')
			line.WriteString(w)
			lineWidth += space + ww
			continue
		}
		if line.Len() > 0 {
			lines = append(lines, line.String())
			line.Reset()
		}
		for ww > width {
			cut := fit(f, size, w, width)
			lines = append(lines, w[:cut])
			w = w[cut:]
			ww = Width(f, size, w)
		}
		line.WriteString(w)
		lineWidth = ww
	}
	return append(lines, line.String())
}

// fit is the longest prefix of s (in bytes, on a rune boundary) no wider than width; at least one rune.
func fit(f Font, size float64, s string, width float64) int {
	end := 0
	for i, r := range s {
		next := i + utf8.RuneLen(r)
		if end > 0 && Width(f, size, s[:next]) > width {
			break
		}
		end = next
	}
	return end
}
