package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/reports"
)

// historyLength is how many of a cluster's latest reports its trends show.
const historyLength = 30

// frameworkTrend is one framework's score in a cluster's latest report and before.
type frameworkTrend struct {
	Framework string
	Score     *float64
	// Since is when the framework's current state (compliant or not) began, as far
	// as the history shown goes.
	Since     time.Time
	Compliant bool
	Sparkline template.HTML
}

// compliance is what a cluster's reports say, for its rows and pages.
type complianceView struct {
	Latest *store.ReportRecord
	Trends []frameworkTrend
}

// complianceOf reads a cluster's (or, with cluster "", the fleet's) recent reports.
func complianceOf(ctx context.Context, st store.Store, cluster string) (complianceView, error) {
	page, err := st.Reports(ctx, store.ReportQuery{Cluster: &cluster, Limit: historyLength})
	if err != nil {
		return complianceView{}, err
	}
	var v complianceView
	if len(page.Reports) == 0 {
		return v, nil
	}
	v.Latest = &page.Reports[0]
	for _, fw := range v.Latest.Frameworks {
		t := frameworkTrend{Framework: fw}
		t.Score, _ = reports.ScoreOf(*v.Latest, fw)
		t.Compliant = t.Score != nil && *t.Score >= 100
		var series []float64 // oldest first
		for i := len(page.Reports) - 1; i >= 0; i-- {
			if s, ok := reports.ScoreOf(page.Reports[i], fw); ok && s != nil {
				series = append(series, *s)
			}
		}
		// Since: walk back from the newest while the state holds.
		for _, r := range page.Reports {
			s, ok := reports.ScoreOf(r, fw)
			if !ok || s == nil || (*s >= 100) != t.Compliant {
				break
			}
			t.Since = r.GeneratedAt
		}
		t.Sparkline = sparkline(series)
		v.Trends = append(v.Trends, t)
	}
	return v, nil
}

// sparkline draws scores (0-100, oldest first) as a small inline SVG.
func sparkline(scores []float64) template.HTML {
	const w, h = 120.0, 24.0
	if len(scores) == 0 {
		return ""
	}
	var pts []string
	for i, s := range scores {
		x := w
		if len(scores) > 1 {
			x = float64(i) * w / float64(len(scores)-1)
		}
		y := h - 2 - (min(max(s, 0), 100) * (h - 4) / 100)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	if len(pts) == 1 {
		pts = append([]string{fmt.Sprintf("0,%s", strings.Split(pts[0], ",")[1])}, pts...)
	}
	// Every number is formatted here: nothing from outside reaches the markup.
	return template.HTML(fmt.Sprintf(`<svg class="spark" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="score trend"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="%s"/></svg>`,
		w, h, w, h, strings.Join(pts, " ")))
}

// fleetRow is a cluster's row on the fleet page.
type fleetRow struct {
	store.ClusterInfo
	Compliance complianceView
}

// reportData is one report's page.
type reportData struct {
	Record  store.ReportRecord
	Report  *reports.Report
	Formats []string
}

// report shows one kept report: each framework's controls with their status,
// reasons and evidence, and the downloads.
func (u *UI) report(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer) {
	if u.opts.LoadReport == nil {
		u.render(w, http.StatusServiceUnavailable, "error", page{Title: "No reports", Viewer: v, Data: pageError{Title: "No reports", Message: "This server makes no reports: it was started without a report signing key."}})
		return
	}
	rep, ok := u.loadReport(w, r, st, v)
	if !ok {
		return
	}
	rec, err := st.Report(r.Context(), rep.ID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	rec.Body = nil
	cluster := rec.Cluster
	u.render(w, http.StatusOK, "report", page{Title: "Report " + shortID(rep.ID), Viewer: v, Cluster: cluster,
		Data: reportData{Record: rec, Report: rep, Formats: reports.Formats}})
}

// download sends a kept report as a file.
func (u *UI) download(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer) {
	if u.opts.LoadReport == nil || u.opts.RenderReport == nil {
		u.render(w, http.StatusServiceUnavailable, "error", page{Title: "No reports", Viewer: v, Data: pageError{Title: "No reports", Message: "This server makes no reports."}})
		return
	}
	format := r.URL.Query().Get("format")
	if !slices.Contains(reports.Formats, format) {
		u.render(w, http.StatusBadRequest, "error", page{Title: "Unknown format", Viewer: v, Data: pageError{Title: "Unknown format", Message: "Download as one of " + strings.Join(reports.Formats, ", ") + "."}})
		return
	}
	rep, ok := u.loadReport(w, r, st, v)
	if !ok {
		return
	}
	body, err := u.opts.RenderReport(rep, format)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.opts.WriteDownload(w, rep, format, body)
}

func (u *UI) loadReport(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer) (*reports.Report, bool) {
	rep, err := u.opts.LoadReport(r.Context(), st, r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		u.render(w, http.StatusNotFound, "error", page{Title: "Unknown report", Viewer: v, Data: pageError{Title: "Unknown report", Message: fmt.Sprintf("There is no report %q.", r.PathValue("id"))}})
		return nil, false
	case errors.Is(err, reports.ErrBadSignature):
		u.opts.Logger.Error("a kept report fails its signature check: the store was altered", "report", r.PathValue("id"), "err", err)
		u.render(w, http.StatusInternalServerError, "error", page{Title: "Report altered", Viewer: v, Data: pageError{Title: "Report altered", Message: "The stored report no longer matches its signature, so it is not shown. The server's log has the details."}})
		return nil, false
	case err != nil:
		u.fail(w, r, err)
		return nil, false
	}
	return rep, true
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	return id[:min(12, len(id))]
}

// statusClass is the CSS class of a control's status.
func statusClass(s compliance.Status) string {
	return "st-" + string(s)
}
