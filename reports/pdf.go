package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/reports/internal/pdf"
)

// Page geometry of the PDF rendering, in points.
const (
	pdfMargin  = 42.0
	pdfTop     = 56.0 // below the running header
	pdfBottom  = pdf.A4Height - 48
	pdfWidth   = pdf.A4Width - 2*pdfMargin
	pdfLeading = 1.25 // line height as a multiple of the font size
)

var (
	colorText   = pdf.RGB(31, 35, 40)
	colorMuted  = pdf.RGB(89, 99, 110)
	colorLine   = pdf.RGB(208, 215, 222)
	colorHead   = pdf.RGB(246, 248, 250)
	colorBroken = pdf.RGB(207, 34, 46)
	colorStatus = map[compliance.Status]pdf.Color{
		compliance.Pass:          pdf.RGB(26, 127, 55),
		compliance.Fail:          pdf.RGB(207, 34, 46),
		compliance.NotApplicable: pdf.RGB(110, 119, 129),
		compliance.Manual:        pdf.RGB(154, 103, 0),
	}
)

// WritePDF writes the report as an A4 PDF document: a cover page (scope,
// frameworks, time, trail range and its verification, signature), the summary of
// scores, then for each cluster and framework a table of controls and each
// control's evidence.
func WritePDF(w io.Writer, r *Report, opts RenderOptions) error {
	v := newView(r, opts)
	l := &layout{doc: pdf.New(pdf.A4Width, pdf.A4Height), header: v.Title + "  ·  " + r.ID}
	l.cover(v)
	l.summary(v)
	for _, c := range v.Clusters {
		for _, f := range c.Frameworks {
			l.framework(v, c, f)
		}
	}
	l.footers(r)
	_, err := l.doc.WriteTo(w, pdf.Info{
		Title: v.Title, Subject: v.Frameworks, Author: "Bailiff",
		Creator: r.Generator.Name + " " + r.Generator.Version, Created: r.GeneratedAt,
	})
	if err != nil {
		return fmt.Errorf("write PDF report: %w", err)
	}
	return nil
}

// layout flows content down pages, starting a new page when the next block does
// not fit.
type layout struct {
	doc    *pdf.Doc
	header string
	y      float64
}

func (l *layout) page() pdf.Page { return l.doc.Current() }

// newPage starts a page with the running header (not on the cover).
func (l *layout) newPage() {
	l.doc.AddPage()
	p := l.page()
	p.Text(pdfMargin, 32, pdf.Helvetica, 8, colorMuted, l.header)
	p.Line(pdfMargin, 38, pdfMargin+pdfWidth, 38, 0.5, colorLine)
	l.y = pdfTop
}

// need starts a new page unless h more points fit on this one.
func (l *layout) need(h float64) {
	if l.y+h > pdfBottom {
		l.newPage()
	}
}

// para writes wrapped text and moves down.
func (l *layout) para(f pdf.Font, size float64, c pdf.Color, text string) {
	for _, line := range pdf.Wrap(f, size, text, pdfWidth) {
		l.need(size * pdfLeading)
		l.y += size
		l.page().Text(pdfMargin, l.y, f, size, c, line)
		l.y += size * (pdfLeading - 1)
	}
}

func (l *layout) gap(h float64) { l.y += h }

func (l *layout) heading(size float64, text string) {
	l.need(size*pdfLeading + 40) // keep a heading with what follows
	l.gap(size * 0.6)
	l.para(pdf.HelveticaBold, size, colorText, text)
	l.gap(size * 0.3)
}

func (l *layout) cover(v *view) {
	l.doc.AddPage()
	p := l.page()
	l.y = 150
	p.Rect(pdfMargin, 110, pdfWidth, 4, colorText)
	l.para(pdf.HelveticaBold, 26, colorText, v.Title)
	l.gap(6)
	l.para(pdf.Helvetica, 12, colorMuted, v.Frameworks)
	l.gap(24)
	if len(v.Broken) > 0 {
		lines := []string{"TRAIL VERIFICATION FAILED"}
		for _, b := range v.Broken {
			lines = append(lines, pdf.Wrap(pdf.Helvetica, 10, b+". The findings cannot be proven complete.", pdfWidth-20)...)
		}
		h := 14 + float64(len(lines))*13
		p.Rect(pdfMargin, l.y, pdfWidth, h, colorBroken)
		y := l.y + 18
		for i, line := range lines {
			f := pdf.Helvetica
			if i == 0 {
				f = pdf.HelveticaBold
			}
			p.Text(pdfMargin+10, y, f, 10, pdf.RGB(255, 255, 255), line)
			y += 13
		}
		l.y += h + 20
	}
	rows := [][2]string{
		{"Scope", v.Subtitle},
		{"Generated", v.Generated},
		{"Period", v.Period},
	}
	for _, c := range v.Clusters {
		line := c.TrailLine
		if c.Trail.Status == TrailIntact {
			line = "verified " + line
		}
		rows = append(rows, [2]string{"Trail of " + c.Cluster, line})
	}
	rows = append(rows,
		[2]string{"Report ID", v.R.ID},
		[2]string{"Signature", v.SignedBy},
		[2]string{"Generator", strings.TrimSpace(v.R.Generator.Name + " " + v.R.Generator.Version + " " + policySet(v.R))},
	)
	for _, row := range rows {
		lines := pdf.Wrap(pdf.Helvetica, 10, row[1], pdfWidth-110)
		l.need(float64(len(lines))*13 + 6)
		l.page().Text(pdfMargin, l.y+10, pdf.HelveticaBold, 10, colorText, row[0])
		for _, line := range lines {
			l.page().Text(pdfMargin+110, l.y+10, pdf.Helvetica, 10, colorText, line)
			l.y += 13
		}
		l.y += 6
	}
	l.gap(12)
	l.para(pdf.Helvetica, 9, colorMuted, "The JSON rendering of this report is the source of truth and carries the signature; verify it with: bailiff report verify FILE --public-key KEY. Scores count automated controls only: passing / (passing + failing).")
}

func policySet(r *Report) string {
	if r.Generator.PolicySetVersion == "" {
		return ""
	}
	return "(policy set " + r.Generator.PolicySetVersion + ")"
}

func (l *layout) summary(v *view) {
	l.newPage()
	l.heading(18, "Summary")
	cols := []column{{"Framework", 200}, {"Score", 70}, {"Pass", 55}, {"Fail", 55}, {"N/A", 55}, {"Manual", pdfWidth - 435}}
	var rows [][]cell
	for _, s := range v.R.Summary {
		t := s.Controls
		rows = append(rows, []cell{
			{text: v.R.FrameworkInfo(s.Framework).Name}, {text: compliance.FormatScore(s.Score), bold: true},
			{text: fmt.Sprint(t.Pass)}, {text: fmt.Sprint(t.Fail)}, {text: fmt.Sprint(t.NotApplicable)}, {text: fmt.Sprint(t.Manual)},
		})
	}
	l.table(cols, rows)
	for _, c := range v.Clusters {
		l.heading(13, "Cluster "+c.Cluster)
		l.para(pdf.Helvetica, 9, colorText, "Trail: "+c.TrailLine)
		a := c.Admissions
		l.para(pdf.Helvetica, 9, colorText, fmt.Sprintf("Admission decisions in the period: %d (%d allowed, %d warned, %d denied; %d dry runs not counted). Open findings: %d.",
			a.Total, a.Allowed, a.Warned, a.Denied, a.DryRuns, c.OpenFindings))
		l.gap(4)
		var frows [][]cell
		for _, f := range c.Frameworks {
			frows = append(frows, []cell{{text: f.Info.Name}, {text: f.Score, bold: true}, {text: f.Tally}})
		}
		l.table([]column{{"Framework", 200}, {"Score", 70}, {"Controls", pdfWidth - 270}}, frows)
	}
}

func (l *layout) framework(v *view, c clusterView, f frameworkView) {
	l.newPage()
	l.heading(16, fmt.Sprintf("%s %s: %s", f.Info.Name, f.Info.Version, f.Score))
	l.para(pdf.Helvetica, 10, colorMuted, fmt.Sprintf("Cluster %s: %s.", c.Cluster, f.Tally))
	l.gap(6)
	controls := v.Controls(f)
	var rows [][]cell
	for _, ctl := range controls {
		rows = append(rows, []cell{{text: ctl.Control, bold: true}, {text: ctl.Title}, {text: ctl.Status.Label(), color: colorStatus[ctl.Status], bold: true}})
	}
	l.table([]column{{"Control", 95}, {"Title", pdfWidth - 155}, {"Status", 60}}, rows)
	for _, ctl := range controls {
		l.control(ctl)
	}
}

func (l *layout) control(ctl controlView) {
	l.need(60)
	l.gap(8)
	l.page().Line(pdfMargin, l.y, pdfMargin+pdfWidth, l.y, 0.5, colorLine)
	l.gap(4)
	label := strings.ToUpper(ctl.Status.Label())
	lw := pdf.Width(pdf.HelveticaBold, 9, label) + 10
	l.page().Rect(pdfMargin+pdfWidth-lw, l.y, lw, 13, colorStatus[ctl.Status])
	l.page().Text(pdfMargin+pdfWidth-lw+5, l.y+9.5, pdf.HelveticaBold, 9, pdf.RGB(255, 255, 255), label)
	for _, line := range pdf.Wrap(pdf.HelveticaBold, 11, ctl.Control+"  "+ctl.Title, pdfWidth-lw-10) {
		l.y += 11
		l.page().Text(pdfMargin, l.y, pdf.HelveticaBold, 11, colorText, line)
		l.y += 3
	}
	l.gap(4)
	l.para(pdf.Helvetica, 9, colorText, ctl.Reason)
	if ctl.Guidance != "" {
		l.para(pdf.Helvetica, 9, colorMuted, "Guidance: "+ctl.Guidance)
	}
	if len(ctl.Policies) > 0 {
		l.gap(4)
		var rows [][]cell
		for _, p := range ctl.Policies {
			title := p.Title
			if !p.Loaded {
				title = "(not loaded)"
			}
			rows = append(rows, []cell{
				{text: p.Policy, font: pdf.Courier}, {text: title}, {text: p.Enforcement},
				{text: fmt.Sprint(p.OpenFindings)}, {text: fmt.Sprint(p.Admission.Denied)},
				{text: fmt.Sprint(p.Admission.Warned)}, {text: fmt.Sprint(p.Admission.Allowed)}, {text: fmt.Sprint(p.Admission.Exempted)},
			})
		}
		l.table([]column{{"Policy", 80}, {"Title", pdfWidth - 345}, {"Enforce", 45}, {"Open", 40}, {"Denied", 45}, {"Warned", 45}, {"Allowed", 45}, {"Exempt", 45}}, rows)
	}
	if len(ctl.Shown) > 0 {
		var rows [][]cell
		for _, re := range ctl.Shown {
			var violations, events []string
			for _, vi := range re.Violations {
				violations = append(violations, vi.Policy+": "+vi.Message)
				if e := eventList(vi); e != "" {
					events = append(events, e)
				}
			}
			rows = append(rows, []cell{
				{text: resourceName(re) + "\n" + re.UID},
				{text: formatTime(re.FirstSeen)},
				{text: strings.Join(violations, "\n")},
				{text: strings.Join(events, "\n"), font: pdf.Courier, size: 6},
			})
		}
		l.table([]column{{"Resource", 130}, {"First seen", 70}, {"Violations", pdfWidth - 350}, {"Trail events", 150}}, rows)
	}
	if ctl.More > 0 {
		l.para(pdf.Helvetica, 9, colorMuted, fmt.Sprintf("and %d more failing resources, listed in the CSV and JSON renderings of this report.", ctl.More))
	}
}

// column is a table column: heading and width.
type column struct {
	title string
	width float64
}

// cell is one table cell; zero font and size mean Helvetica 8.
type cell struct {
	text  string
	font  pdf.Font
	size  float64
	bold  bool
	color pdf.Color
}

const cellPad = 3.0

// table draws a table whose rows break across pages, repeating the header.
func (l *layout) table(cols []column, rows [][]cell) {
	header := func() {
		h := 8*pdfLeading + 2*cellPad
		l.need(h + 20)
		x := pdfMargin
		for _, c := range cols {
			l.page().Rect(x, l.y, c.width, h, colorHead)
			l.page().Text(x+cellPad, l.y+cellPad+7, pdf.HelveticaBold, 7.5, colorText, c.title)
			x += c.width
		}
		l.page().Line(pdfMargin, l.y+h, pdfMargin+pdfWidth, l.y+h, 0.5, colorLine)
		l.y += h
	}
	header()
	for _, row := range rows {
		lines := make([][]string, len(row))
		height := 0.0
		for i, c := range row {
			f, size := c.style()
			lines[i] = pdf.Wrap(f, size, c.text, cols[i].width-2*cellPad)
			if h := float64(len(lines[i])) * size * pdfLeading; h > height {
				height = h
			}
		}
		height += 2 * cellPad
		if l.y+height > pdfBottom {
			l.newPage()
			header()
		}
		x := pdfMargin
		for i, c := range row {
			f, size := c.style()
			y := l.y + cellPad + size
			for _, line := range lines[i] {
				l.page().Text(x+cellPad, y, f, size, c.color, line)
				y += size * pdfLeading
			}
			x += cols[i].width
		}
		l.y += height
		l.page().Line(pdfMargin, l.y, pdfMargin+pdfWidth, l.y, 0.3, colorLine)
	}
	l.gap(6)
}

func (c cell) style() (pdf.Font, float64) {
	f, size := c.font, c.size
	if c.bold && f == pdf.Helvetica {
		f = pdf.HelveticaBold
	}
	if size == 0 {
		size = 8
	}
	return f, size
}

// footers numbers every page but the cover.
func (l *layout) footers(r *Report) {
	n := l.doc.Pages()
	for i := 1; i < n; i++ {
		p := l.doc.Page(i)
		p.Line(pdfMargin, pdf.A4Height-34, pdfMargin+pdfWidth, pdf.A4Height-34, 0.5, colorLine)
		p.Text(pdfMargin, pdf.A4Height-24, pdf.Helvetica, 8, colorMuted, "Generated "+formatTime(r.GeneratedAt)+" by Bailiff")
		label := fmt.Sprintf("Page %d of %d", i+1, n)
		p.Text(pdfMargin+pdfWidth-pdf.Width(pdf.Helvetica, 8, label), pdf.A4Height-24, pdf.Helvetica, 8, colorMuted, label)
	}
}
