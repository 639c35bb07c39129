package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats a report renders to.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatHTML = "html"
	FormatPDF  = "pdf"
)

// Formats lists every format, JSON (the source of truth) first.
var Formats = []string{FormatJSON, FormatCSV, FormatHTML, FormatPDF}

// RenderOptions tune the documents made for people (HTML and PDF); JSON and CSV
// always hold everything.
type RenderOptions struct {
	// MaxResources caps the failing resources listed under one control; the rest are
	// counted and the reader pointed to the CSV or JSON. Zero lists them all.
	MaxResources int
}

// DefaultMaxResources is the cap on failing resources per control in HTML and PDF
// that the command line uses unless told otherwise.
const DefaultMaxResources = 100

// ContentType is the MIME type of a format, for downloads.
func ContentType(format string) string {
	switch format {
	case FormatJSON:
		return "application/json"
	case FormatCSV:
		return "text/csv; charset=utf-8"
	case FormatHTML:
		return "text/html; charset=utf-8"
	case FormatPDF:
		return "application/pdf"
	}
	return "application/octet-stream"
}

// Render writes a report in a format.
func Render(w io.Writer, r *Report, format string, opts RenderOptions) error {
	switch format {
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatCSV:
		return WriteCSV(w, r)
	case FormatHTML:
		return WriteHTML(w, r, opts)
	case FormatPDF:
		return WritePDF(w, r, opts)
	}
	return fmt.Errorf("unknown report format %q: use one of %s", format, strings.Join(Formats, ", "))
}

// WriteJSON writes the report as indented JSON. Whitespace is not signed: the
// signature covers the canonical form, so any re-indentation still verifies.
func WriteJSON(w io.Writer, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
