package reports

import (
	"embed"
	"fmt"
	"html/template"
	"io"

	"github.com/bailiff/bailiff/pkg/compliance"
)

//go:embed templates/report.html.tmpl
var templateFS embed.FS

// htmlTemplate is parsed once; it holds no state between renderings.
var htmlTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"score":    compliance.FormatScore,
	"time":     formatTime,
	"resource": resourceName,
	"events":   eventList,
	"anchor":   anchor,
	"fwinfo":   func(string) FrameworkInfo { return FrameworkInfo{} }, // replaced per rendering
}).ParseFS(templateFS, "templates/report.html.tmpl"))

// WriteHTML writes the report as one self-contained HTML page: inline CSS, no
// scripts, no external assets, laid out to print (cover, then a page per cluster
// and framework).
func WriteHTML(w io.Writer, r *Report, opts RenderOptions) error {
	t, err := htmlTemplate.Clone()
	if err != nil {
		return err
	}
	t.Funcs(template.FuncMap{"fwinfo": r.FrameworkInfo})
	if err := t.Execute(w, newView(r, opts)); err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	return nil
}
