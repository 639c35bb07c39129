// Package pdf writes simple PDF 1.4 documents: pages of text in the standard Type 1
// fonts (Helvetica, Helvetica-Bold, Courier; WinAnsiEncoding, so no font is
// embedded), filled rectangles and lines. It is what compliance reports need and
// nothing more: no images, no Unicode beyond Windows-1252, no forms.
//
// Coordinates are in points (1/72 inch) from the top-left corner of the page.
// Output is deterministic: the same calls give the same bytes.
package pdf

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// A4 page size in points.
const (
	A4Width  = 595.28
	A4Height = 841.89
)

// Font is one of the standard fonts a document can use.
type Font int

// The fonts available.
const (
	Helvetica Font = iota
	HelveticaBold
	Courier
	numFonts
)

var fontNames = [numFonts]string{"Helvetica", "Helvetica-Bold", "Courier"}

// Color is an RGB colour, each component 0..1.
type Color struct{ R, G, B float64 }

// RGB makes a colour from 0..255 components.
func RGB(r, g, b uint8) Color { return Color{float64(r) / 255, float64(g) / 255, float64(b) / 255} }

// Black is the default text colour.
var Black = Color{}

// Doc is a document being built, one page at a time.
type Doc struct {
	width, height float64
	pages         []*bytes.Buffer
}

// New starts a document whose pages are width × height points.
func New(width, height float64) *Doc { return &Doc{width: width, height: height} }

// AddPage starts a new page; drawing goes to it until the next AddPage.
func (d *Doc) AddPage() { d.pages = append(d.pages, &bytes.Buffer{}) }

// Pages is the number of pages so far.
func (d *Doc) Pages() int { return len(d.pages) }

// Page is a handle for drawing on one page, e.g. footers once the count is known.
type Page struct {
	d   *Doc
	buf *bytes.Buffer
}

// Page returns page i (0-based).
func (d *Doc) Page(i int) Page { return Page{d: d, buf: d.pages[i]} }

// Current returns the page being drawn.
func (d *Doc) Current() Page {
	if len(d.pages) == 0 {
		d.AddPage()
	}
	return d.Page(len(d.pages) - 1)
}

// Text draws s with its baseline's left end at (x, y).
func (p Page) Text(x, y float64, f Font, size float64, c Color, s string) {
	fmt.Fprintf(p.buf, "BT %s rg /F%d %s Tf %s %s Td (", rgb(c), f+1, num(size), num(x), num(p.d.height-y))
	p.buf.Write(escape(Encode(s)))
	p.buf.WriteString(") Tj ET\n")
}

// Rect fills a rectangle whose top-left corner is (x, y).
func (p Page) Rect(x, y, w, h float64, c Color) {
	fmt.Fprintf(p.buf, "%s rg %s %s %s %s re f\n", rgb(c), num(x), num(p.d.height-y-h), num(w), num(h))
}

// Line strokes a line from (x1, y1) to (x2, y2).
func (p Page) Line(x1, y1, x2, y2, width float64, c Color) {
	fmt.Fprintf(p.buf, "%s RG %s w %s %s m %s %s l S\n", rgb(c), num(width), num(x1), num(p.d.height-y1), num(x2), num(p.d.height-y2))
}

// Info is the document's metadata.
type Info struct {
	Title, Subject, Author, Creator string
	Created                         time.Time
}

// WriteTo writes the document. Page contents are compressed with Flate.
func (d *Doc) WriteTo(w io.Writer, info Info) (int64, error) {
	if len(d.pages) == 0 {
		d.AddPage()
	}
	var out bytes.Buffer
	var offsets []int
	obj := func(body string) int {
		offsets = append(offsets, out.Len())
		n := len(offsets)
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", n, body)
		return n
	}
	out.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	// Objects 1 and 2 are the catalog and the page tree; pages refer to 2.
	catalog := obj("<< /Type /Catalog /Pages 2 0 R >>")
	offsets = append(offsets, 0) // page tree, written last
	var fonts []string
	for i, name := range fontNames {
		n := obj(fmt.Sprintf("<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>", name))
		fonts = append(fonts, fmt.Sprintf("/F%d %d 0 R", i+1, n))
	}
	resources := obj("<< /Font << " + strings.Join(fonts, " ") + " >> >>")
	var kids []string
	for _, content := range d.pages {
		var z bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
		zw.Write(content.Bytes())
		zw.Close()
		offsets = append(offsets, out.Len())
		stream := len(offsets)
		fmt.Fprintf(&out, "%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", stream, z.Len())
		out.Write(z.Bytes())
		out.WriteString("\nendstream\nendobj\n")
		page := obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Resources %d 0 R /Contents %d 0 R >>",
			num(d.width), num(d.height), resources, stream))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	offsets[1] = out.Len()
	fmt.Fprintf(&out, "2 0 obj\n<< /Type /Pages /Kids [%s] /Count %d >>\nendobj\n", strings.Join(kids, " "), len(kids))
	infoObj := obj(fmt.Sprintf("<< /Title %s /Subject %s /Author %s /Creator %s /Producer (Bailiff) /CreationDate (D:%s) >>",
		literal(info.Title), literal(info.Subject), literal(info.Author), literal(info.Creator), info.Created.UTC().Format("20060102150405Z")))
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, catalog, infoObj, xref)
	n, err := w.Write(out.Bytes())
	return int64(n), err
}

// literal is s as a PDF string literal.
func literal(s string) string { return "(" + string(escape(Encode(s))) + ")" }

func escape(b []byte) []byte {
	var out []byte
	for _, c := range b {
		switch c {
		case '(', ')', '\\':
			out = append(out, '\\', c)
		case '\r', '\n', '\t':
			out = append(out, ' ')
		default:
			out = append(out, c)
		}
	}
	return out
}

func rgb(c Color) string { return num(c.R) + " " + num(c.G) + " " + num(c.B) }

// num prints a coordinate with at most two decimals and no exponent.
func num(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-" {
		return "0"
	}
	return s
}
