package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/reports"
)

// The reports API.
//
//	GET  /api/v1/reports                      list kept reports (cluster fleet framework from to cursor limit)
//	POST /api/v1/reports                      generate, sign and keep one: ReportRequest → 201 ReportMeta
//	GET  /api/v1/reports/{id}?format=F        download one rendered as json, csv, html or pdf
//	GET  /api/v1/reports/{id}/signature?format=F  the detached signature of a rendering
//	GET  /api/v1/reports/public-key           the key reports are signed with (PEM)
const ReportsPath = "/api/v1/reports"

// ReportRequest asks for a report. From and To are RFC 3339 times or dates; an empty To is now.
type ReportRequest struct {
	Cluster   string `json:"cluster,omitempty"`
	Fleet     bool   `json:"fleet,omitempty"`
	Framework string `json:"framework"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
}

// ReportPage is a page of kept reports, newest first.
type ReportPage struct {
	Reports []store.ReportRecord `json:"reports"`
	Next    string               `json:"next"`
}

// StartReports makes the scheduled reports until ctx ends (see reports.Keeper.Schedule).
func (s *Server) StartReports(ctx context.Context, sched reports.Scheduled) {
	if s.opts.Reports == nil {
		return
	}
	s.opts.Reports.Schedule(ctx, s.currentStore, sched)
}

// reportsEnabled answers 503 when the server was started without a report key.
func (s *Server) reportsEnabled(w http.ResponseWriter) bool {
	if s.opts.Reports == nil {
		writeError(w, http.StatusServiceUnavailable, "this server makes no reports: start it with a report signing key")
		return false
	}
	return true
}

// listReports answers GET /api/v1/reports.
func (s *Server) listReports(w http.ResponseWriter, r *http.Request, st store.Store, _ store.Credential) {
	p, err := parseParams(r.URL.Query(), "cluster", "fleet", "framework", "from", "to", "cursor", "limit")
	q := store.ReportQuery{Framework: p.str("framework"), Time: store.TimeRange{From: p.time("from"), To: p.time("to")}, Cursor: p.str("cursor"), Limit: p.limit()}
	p.timeOrder("from", q.Time.From, "to", q.Time.To)
	switch fleet, cluster := p.str("fleet"), p.str("cluster"); {
	case fleet == "true" && cluster != "":
		p.fail("fleet", errors.New("ask for one cluster's reports or the fleet's, not both"))
	case fleet == "true":
		q.Cluster = new("")
	case fleet != "" && fleet != "false":
		p.fail("fleet", fmt.Errorf("%q is not true or false", fleet))
	case cluster != "":
		q.Cluster = &cluster
	}
	if err = errors.Join(err, p.err); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := st.Reports(r.Context(), q)
	if err != nil {
		s.queryError(w, r, q.Cursor, err)
		return
	}
	writeJSON(w, http.StatusOK, ReportPage{Reports: nonNil(page.Reports), Next: page.Next})
}

// createReport answers POST /api/v1/reports.
func (s *Server) createReport(w http.ResponseWriter, r *http.Request, st store.Store, c store.Credential) {
	if !s.reportsEnabled(w) {
		return
	}
	req, code, err := decodeStrict[ReportRequest](w, r, 64<<10)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	gr, err := generationRequest(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rec, rep, err := s.opts.Reports.Create(r.Context(), st, gr)
	var unknownCluster *reports.UnknownClusterError
	var unknownFramework *compliance.UnknownFrameworkError
	switch {
	case errors.As(err, &unknownCluster), errors.As(err, &unknownFramework):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, reports.ErrBadPeriod):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	}
	s.log.Info("report made", "report", rec.ID, "by", c.Name, "cluster", rec.Cluster, "frameworks", rec.Frameworks, "trailOK", rec.TrailOK)
	if broken := rep.BrokenTrails(); len(broken) > 0 {
		s.log.Warn("report made over a broken trail; its cover says so", "report", rec.ID, "clusters", broken)
	}
	w.Header().Set("Location", ReportsPath+"/"+rec.ID)
	writeJSON(w, http.StatusCreated, rec)
}

// generationRequest checks a request and turns it into the generator's.
func generationRequest(req ReportRequest) (reports.Request, error) {
	out := reports.Request{Cluster: req.Cluster, Fleet: req.Fleet, Framework: req.Framework}
	switch {
	case req.Fleet && req.Cluster != "":
		return out, errors.New(`ask for one cluster ("cluster") or the fleet ("fleet": true), not both`)
	case !req.Fleet && req.Cluster == "":
		return out, errors.New(`name one cluster ("cluster") or ask for the fleet ("fleet": true)`)
	}
	if req.Framework == "" {
		out.Framework = compliance.All
	}
	for _, t := range []struct {
		name, value string
		into        *time.Time
	}{{"from", req.From, &out.Period.From}, {"to", req.To, &out.Period.To}} {
		if t.value == "" {
			continue
		}
		v, err := trail.ParseTime(t.value)
		if err != nil {
			return out, fmt.Errorf("%s: %w", t.name, err)
		}
		*t.into = v
	}
	return out, nil
}

// reportFormat reads ?format=, json by default.
func reportFormat(r *http.Request) (string, error) {
	f := r.URL.Query().Get("format")
	if f == "" {
		return reports.FormatJSON, nil
	}
	if !slices.Contains(reports.Formats, f) {
		return "", fmt.Errorf("format %q is not one of %s", f, strings.Join(reports.Formats, ", "))
	}
	return f, nil
}

// loadReport reads a kept report, answering 404 or 500 itself when it cannot.
func (s *Server) loadReport(w http.ResponseWriter, r *http.Request, st store.Store) (*reports.Report, bool) {
	rep, err := s.opts.Reports.Load(r.Context(), st, r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no report %q; GET %s lists them", r.PathValue("id"), ReportsPath))
		return nil, false
	case errors.Is(err, reports.ErrBadSignature):
		s.log.Error("a kept report fails its signature check: the store was altered", "report", r.PathValue("id"), "err", err)
		writeError(w, http.StatusInternalServerError, "the stored report fails its signature check and is not served; the server log has the details")
		return nil, false
	case err != nil:
		s.internalError(w, r, err)
		return nil, false
	}
	return rep, true
}

// render renders a report, with its detached signature for formats other than JSON.
func (s *Server) render(rep *reports.Report, format string) (body, signature []byte, err error) {
	var buf bytes.Buffer
	if err := reports.Render(&buf, rep, format, reports.RenderOptions{}); err != nil {
		return nil, nil, err
	}
	if format != reports.FormatJSON {
		if signature, err = reports.SignDetached(rep, format, buf.Bytes(), s.opts.Reports.Key); err != nil {
			return nil, nil, err
		}
	}
	return buf.Bytes(), signature, nil
}

// downloadReport answers GET /api/v1/reports/{id}.
func (s *Server) downloadReport(w http.ResponseWriter, r *http.Request, st store.Store, _ store.Credential) {
	if !s.reportsEnabled(w) {
		return
	}
	format, err := reportFormat(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep, ok := s.loadReport(w, r, st)
	if !ok {
		return
	}
	body, _, err := s.render(rep, format)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	WriteReportDownload(w, rep, format, body)
}

// WriteReportDownload answers with a rendered report as a file to save.
func WriteReportDownload(w http.ResponseWriter, rep *reports.Report, format string, body []byte) {
	w.Header().Set("Content-Type", reports.ContentType(format))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, ReportFileName(rep, format)))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Bailiff-Report-Id", rep.ID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// ReportFileName names a report's download: bailiff-<cluster|fleet>-<frameworks>-<date>.<format>.
func ReportFileName(rep *reports.Report, format string) string {
	target := "fleet"
	if rep.Scope == reports.ScopeCluster && len(rep.Clusters) == 1 {
		target = rep.Clusters[0].Cluster
	}
	fw := "all"
	if len(rep.Frameworks) == 1 {
		fw = rep.Frameworks[0].ID
	}
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, target)
	return fmt.Sprintf("bailiff-%s-%s-%s.%s", clean, fw, rep.GeneratedAt.UTC().Format("20060102T150405Z"), format)
}

// reportSignature answers GET /api/v1/reports/{id}/signature.
func (s *Server) reportSignature(w http.ResponseWriter, r *http.Request, st store.Store, _ store.Credential) {
	if !s.reportsEnabled(w) {
		return
	}
	format, err := reportFormat(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if format == reports.FormatJSON {
		writeError(w, http.StatusBadRequest, "a JSON report carries its own signature; detached signatures are for csv, html and pdf")
		return
	}
	rep, ok := s.loadReport(w, r, st)
	if !ok {
		return
	}
	_, sig, err := s.render(rep, format)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.sig"`, ReportFileName(rep, format)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(sig)
}

// reportPublicKey answers GET /api/v1/reports/public-key.
func (s *Server) reportPublicKey(w http.ResponseWriter, r *http.Request, _ store.Store, _ store.Credential) {
	if !s.reportsEnabled(w) {
		return
	}
	pemBytes, err := reports.MarshalPublicKey(s.opts.Reports.Key.Public().(ed25519.PublicKey))
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("X-Bailiff-Key-Id", reports.KeyID(s.opts.Reports.Key.Public().(ed25519.PublicKey)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(pemBytes)
}
