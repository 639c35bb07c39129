package reports

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/bailiff/bailiff/pkg/compliance"
)

func TestCSVParsesBackOneRowPerControlPerResource(t *testing.T) {
	r := generate(t, Request{Cluster: "prod-eu", Framework: compliance.All})
	var buf bytes.Buffer
	if err := WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	if strings.Join(rows[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("header %v", rows[0])
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	want := 0
	c, _ := r.Cluster("prod-eu")
	for _, fw := range c.Frameworks {
		for _, res := range fw.Results {
			want += max(1, len(res.Failing))
		}
	}
	if len(rows)-1 != want {
		t.Fatalf("%d data rows, want %d", len(rows)-1, want)
	}
	var found bool
	for _, row := range rows[1:] {
		if row[col["report_id"]] != r.ID || row[col["cluster"]] != "prod-eu" {
			t.Fatalf("row %v", row)
		}
		if row[col["control"]] == "CIS-5.2.7" && row[col["name"]] == "debug-shell" {
			found = true
			if row[col["status"]] != "fail" || row[col["namespace"]] != "payments" || row[col["first_seen"]] != "2026-03-01T07:00:00Z" ||
				row[col["policies"]] != "BLF-PSS-018" || row[col["trail_events"]] != "40:evt-f-root-1" || row[col["findings"]] != "f-root-1" {
				t.Errorf("evidence row %v", row)
			}
		}
		if row[col["control"]] == "CIS-5.1.7" && (row[col["status"]] != "manual" || row[col["uid"]] != "") {
			t.Errorf("manual control row %v", row)
		}
	}
	if !found {
		t.Error("no row for CIS-5.2.7 and Pod payments/debug-shell")
	}
}

// htmlDoc parses a rendering and indexes what the structural checks need.
type htmlDoc struct {
	ids        map[string]bool
	links      []string // every href and src
	scripts    int
	styles     int
	text       strings.Builder
	statusRows map[string]string // control id -> status label of its summary row
}

func parseHTML(t *testing.T, b []byte) *htmlDoc {
	t.Helper()
	root, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	d := &htmlDoc{ids: map[string]bool{}, statusRows: map[string]string{}}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				switch a.Key {
				case "id":
					if d.ids[a.Val] {
						t.Errorf("duplicate id %q", a.Val)
					}
					d.ids[a.Val] = true
				case "href", "src":
					d.links = append(d.links, a.Val)
				}
			}
			switch n.Data {
			case "script":
				d.scripts++
			case "style":
				d.styles++
			case "link", "img", "iframe":
				t.Errorf("external asset element <%s>", n.Data)
			case "tr":
				cells := childElements(n, "td")
				if len(cells) == 4 {
					d.statusRows[textOf(cells[0])] = textOf(cells[2])
				}
			}
		}
		if n.Type == html.TextNode {
			d.text.WriteString(n.Data)
			d.text.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return d
}

func childElements(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == tag {
			out = append(out, c)
		}
	}
	return out
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

func TestHTMLIsSelfContainedAndShowsEveryControl(t *testing.T) {
	r := generate(t, Request{Cluster: "prod-eu", Framework: compliance.All})
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r, RenderOptions{MaxResources: 1}); err != nil {
		t.Fatal(err)
	}
	d := parseHTML(t, buf.Bytes())
	if d.scripts != 0 || d.styles != 1 {
		t.Errorf("%d scripts and %d style elements, want none and one inline", d.scripts, d.styles)
	}
	for _, l := range d.links {
		if !strings.HasPrefix(l, "#") {
			t.Errorf("link to outside the document: %s", l)
		} else if !d.ids[strings.TrimPrefix(l, "#")] {
			t.Errorf("link to a missing anchor: %s", l)
		}
	}
	if !strings.Contains(buf.String(), "@media print") {
		t.Error("no print styles")
	}
	c, _ := r.Cluster("prod-eu")
	for _, fw := range c.Frameworks {
		for _, res := range fw.Results {
			if got := d.statusRows[res.Control]; got != res.Status.Label() {
				t.Errorf("%s shows status %q, want %q", res.Control, got, res.Status.Label())
			}
		}
	}
	text := d.text.String()
	for _, want := range []string{r.ID, "prod-eu", r.Signature.KeyID, "seq 1 to 118", "debug-shell", "and 1 more failing resources"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	if strings.Contains(text, "Trail verification failed") {
		t.Error("an intact trail is shown as broken")
	}
}

func TestHTMLCoverShowsABrokenTrail(t *testing.T) {
	src := testSource()
	src.clusters["prod-eu"].trail = TrailRange{Status: TrailBroken, Events: 16, FromSeq: 1, ToSeq: 16, Break: &TrailBreak{Seq: 17, EventID: "evt-17", Reason: "hash mismatch"}}
	r, err := testGenerator(t, src).Generate(t.Context(), Request{Cluster: "prod-eu", Framework: "cis"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	cover := regexp.MustCompile(`(?s)<section class="cover".*?</section>`).FindString(buf.String())
	if !strings.Contains(cover, `class="broken"`) || !strings.Contains(cover, "BROKEN at seq 17") {
		t.Fatalf("the cover does not show the broken trail:\n%s", cover)
	}
}

// pdfTools finds poppler's pdftoppm and pdftotext, or fails saying how to get them
// (make test installs them).
func pdfTools(t *testing.T) (pdftoppm, pdftotext string) {
	t.Helper()
	a, err1 := exec.LookPath("pdftoppm")
	b, err2 := exec.LookPath("pdftotext")
	if err1 != nil || err2 != nil {
		t.Fatal("pdftoppm and pdftotext (Debian package poppler-utils) are not installed, so the PDF rendering cannot be checked: run make test-packages (or apt-get install poppler-utils)")
	}
	return a, b
}

// checkPDF renders a PDF with pdftoppm and extracts its text with pdftotext.
func checkPDF(t *testing.T, pdf []byte) (pages int, text string) {
	t.Helper()
	pdftoppm, pdftotext := pdfTools(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftoppm, "-r", "30", "-png", file, filepath.Join(dir, "page")).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	txt, err := exec.Command(pdftotext, "-layout", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, txt)
	}
	return len(pngs), string(txt)
}

func TestPDFRendersWithCoverSummaryAndControls(t *testing.T) {
	r := generate(t, Request{Cluster: "prod-eu", Framework: "cis"})
	var buf bytes.Buffer
	if err := WritePDF(&buf, r, RenderOptions{MaxResources: 100}); err != nil {
		t.Fatal(err)
	}
	pages, text := checkPDF(t, buf.Bytes())
	// Cover, summary, then the CIS section: a table of 30 controls and each one's evidence.
	if pages < 4 || pages > 12 {
		t.Errorf("%d pages", pages)
	}
	pageTexts := strings.Split(text, "\f")
	for _, want := range []string{"Compliance report: prod-eu", "CIS Kubernetes Benchmark 1.10", "verified intact", "seq 1 to 118", r.ID, "Ed25519"} {
		if !strings.Contains(pageTexts[0], want) {
			t.Errorf("the cover does not show %q:\n%s", want, pageTexts[0])
		}
	}
	for _, want := range []string{
		"Summary", "86.4%", "CIS-5.2.7", "Minimize the admission of root containers", "Pod payments/debug-shell",
		"BLF-PSS-018: violates BLF-PSS-018", "#40 evt-f-root-1", "Guidance:", fmt.Sprintf("Page 2 of %d", pages),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF does not show %q", want)
		}
	}
}

func TestPDFCoverShowsABrokenTrail(t *testing.T) {
	src := testSource()
	src.clusters["prod-eu"].trail = TrailRange{Status: TrailBroken, Events: 16, FromSeq: 1, ToSeq: 16, Break: &TrailBreak{Seq: 17, EventID: "evt-17", Reason: "hash mismatch"}}
	r, err := testGenerator(t, src).Generate(t.Context(), Request{Cluster: "prod-eu", Framework: "pss"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WritePDF(&buf, r, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	_, text := checkPDF(t, buf.Bytes())
	cover := strings.Split(text, "\f")[0]
	if !strings.Contains(cover, "TRAIL VERIFICATION FAILED") || !strings.Contains(cover, "BROKEN at seq 17") {
		t.Fatalf("the cover does not show the broken trail:\n%s", cover)
	}
}
