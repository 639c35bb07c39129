// Package ui serves the pages auditors read in a browser: sign-in with an auditor's
// token, the fleet's clusters, a cluster's open findings and recent trail, the
// findings of one policy, one object's findings and trail events, and the
// verification of a cluster's trail. Pages are rendered on the server from the
// store, self-contained (no script, no external asset), and readable printed.
//
// The token is kept in an HttpOnly, SameSite=Strict cookie scoped to /ui/; every page
// checks it as the API checks a bearer token, so nothing is readable without it.
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/reports"
)

// CookieName holds the signed-in auditor's token.
const CookieName = "bailiff_token"

// Options configure the pages.
type Options struct {
	// Store returns the store, or nil while the server is not connected to it.
	Store func() store.Store
	// Authenticate returns the credential a token belongs to (store.ErrNotFound
	// for an unknown token).
	Authenticate func(ctx context.Context, st store.Store, token string) (store.Credential, error)
	// Forbidden records a signed-in credential that may not read (a cluster's).
	Forbidden func(r *http.Request, st store.Store, c store.Credential, reason string)
	// LoadReport reads a kept report, checking its signature; RenderReport renders
	// it and WriteDownload sends the rendering as a file. Nil without reports.
	LoadReport    func(ctx context.Context, st store.Store, id string) (*reports.Report, error)
	RenderReport  func(rep *reports.Report, format string) ([]byte, error)
	WriteDownload func(w http.ResponseWriter, rep *reports.Report, format string, body []byte)
	Logger        *slog.Logger
	Now           func() time.Time
}

// UI is the auditors' web pages.
type UI struct {
	opts  Options
	pages map[string]*template.Template
	mux   *http.ServeMux
}

//go:embed templates
var templateFiles embed.FS

// New builds the pages. Their templates are part of the binary: one that does not
// parse is a bug that panics here, at start.
func New(opts Options) *UI {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	u := &UI{opts: opts, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	for _, page := range []string{"login", "fleet", "cluster", "policy", "object", "verify", "report", "error"} {
		u.pages[page] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+page+".html"))
	}
	u.mux.HandleFunc("GET /ui/login", u.loginPage)
	u.mux.HandleFunc("POST /ui/login", u.login)
	u.mux.HandleFunc("POST /ui/logout", u.logout)
	u.mux.Handle("GET /ui/{$}", u.signedIn(u.fleet))
	u.mux.Handle("GET /ui/clusters/{cluster}", u.signedIn(u.cluster))
	u.mux.Handle("GET /ui/clusters/{cluster}/policies/{policy}", u.signedIn(u.policy))
	u.mux.Handle("GET /ui/clusters/{cluster}/objects/{uid}", u.signedIn(u.object))
	u.mux.Handle("GET /ui/clusters/{cluster}/verify", u.signedIn(u.verify))
	u.mux.Handle("GET /ui/reports/{id}", u.signedIn(u.report))
	u.mux.Handle("GET /ui/reports/{id}/download", u.signedIn(u.download))
	u.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.render(w, http.StatusNotFound, "error", pageError{Title: "Not found", Message: "There is no page " + r.URL.Path + "."})
	})
	return u
}

// ServeHTTP implements http.Handler.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	u.mux.ServeHTTP(w, r)
}

// viewer is who a page is shown to.
type viewer struct {
	Name, Role string
}

// page is what every template gets.
type page struct {
	Title   string
	Viewer  *viewer
	Cluster string // the cluster the page is about, for the breadcrumb
	Data    any
}

type pageError struct {
	Title, Message string
}

// handler is a page for a signed-in reader.
type handler func(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer)

// signedIn checks the cookie's token as the API checks a bearer token: no or an
// unknown token goes to the sign-in page; a credential that may not read gets 403,
// recorded.
func (u *UI) signedIn(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := u.opts.Store()
		if st == nil {
			u.render(w, http.StatusServiceUnavailable, "error", pageError{Title: "Not ready", Message: "The server is not connected to its store yet; try again shortly."})
			return
		}
		cookie, err := r.Cookie(CookieName)
		if err != nil || cookie.Value == "" {
			u.toLogin(w, r)
			return
		}
		c, err := u.opts.Authenticate(r.Context(), st, cookie.Value)
		if errors.Is(err, store.ErrNotFound) {
			u.clearCookie(w, r)
			u.toLogin(w, r)
			return
		}
		if err != nil {
			u.fail(w, r, err)
			return
		}
		if !mayRead(c) {
			u.opts.Forbidden(r, st, c, fmt.Sprintf("a %s credential may not read %s", c.Role, r.URL.Path))
			u.render(w, http.StatusForbidden, "error", pageError{Title: "Forbidden", Message: "This token belongs to a " + c.Role + " credential; the pages need an auditor's or an admin's."})
			return
		}
		h(w, r, st, &viewer{Name: c.Name, Role: c.Role})
	})
}

func mayRead(c store.Credential) bool {
	return c.Role == store.RoleAuditor || c.Role == store.RoleAdmin
}

func (u *UI) toLogin(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// loginData is the sign-in form.
type loginData struct {
	Next, Problem string
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, http.StatusOK, "login", page{Title: "Sign in", Data: loginData{Next: safeNext(r.URL.Query().Get("next"))}})
}

// login checks the token typed in and, if it may read, keeps it in the cookie.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		u.render(w, http.StatusBadRequest, "login", page{Title: "Sign in", Data: loginData{Problem: "The form could not be read."}})
		return
	}
	next := safeNext(r.PostFormValue("next"))
	token := strings.TrimSpace(r.PostFormValue("token"))
	st := u.opts.Store()
	if st == nil {
		u.render(w, http.StatusServiceUnavailable, "error", pageError{Title: "Not ready", Message: "The server is not connected to its store yet; try again shortly."})
		return
	}
	problem := func(code int, msg string) {
		u.render(w, code, "login", page{Title: "Sign in", Data: loginData{Next: next, Problem: msg}})
	}
	if token == "" {
		problem(http.StatusBadRequest, "Paste an auditor's token.")
		return
	}
	c, err := u.opts.Authenticate(r.Context(), st, token)
	if errors.Is(err, store.ErrNotFound) {
		u.opts.Logger.Warn("sign-in with an unknown token", "remote", r.RemoteAddr)
		problem(http.StatusUnauthorized, "This token is not valid.")
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if !mayRead(c) {
		u.opts.Forbidden(r, st, c, "a "+c.Role+" credential may not sign in to the pages")
		problem(http.StatusForbidden, "This token belongs to a "+c.Role+" credential; sign in with an auditor's.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: token, Path: "/ui/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds()),
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	u.clearCookie(w, r)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func (u *UI) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/ui/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// safeNext keeps a redirect target inside the pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

// render writes a page; a template that fails is logged and answered 500.
func (u *UI) render(w http.ResponseWriter, code int, name string, data any) {
	p, ok := data.(page)
	if !ok {
		e, _ := data.(pageError)
		p = page{Title: e.Title, Data: e}
	}
	var b strings.Builder
	if err := u.pages[name].Execute(&b, p); err != nil {
		u.opts.Logger.Error("render a page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	u.opts.Logger.Error("page failed", "path", r.URL.Path, "err", err)
	u.render(w, http.StatusInternalServerError, "error", pageError{Title: "Error", Message: "The page could not be built; the server's log says why."})
}

// fleetData is the fleet overview.
type fleetData struct {
	Clusters   []fleetRow
	Frameworks []string // the columns: the frameworks of the clusters' latest reports
	Fleet      complianceView
	Server     *store.ClusterInfo // the server's own chain
}

func (u *UI) fleet(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer) {
	all, err := st.Clusters(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	var d fleetData
	for i := range all {
		if all[i].Name == trail.ServerCluster {
			d.Server = &all[i]
			continue
		}
		cv, err := complianceOf(r.Context(), st, all[i].Name)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		for _, t := range cv.Trends {
			if !slices.Contains(d.Frameworks, t.Framework) {
				d.Frameworks = append(d.Frameworks, t.Framework)
			}
		}
		d.Clusters = append(d.Clusters, fleetRow{ClusterInfo: all[i], Compliance: cv})
	}
	if d.Fleet, err = complianceOf(r.Context(), st, ""); err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, http.StatusOK, "fleet", page{Title: "Fleet", Viewer: v, Data: d})
}

// clusterData is one cluster's page.
type clusterData struct {
	Info       store.ClusterInfo
	Compliance complianceView
	Reports    []store.ReportRecord // the latest, newest first
	Formats    []string
	Policies   []store.PolicyFindings
	Events     []store.Event // the most recent, newest first
}

// recentEvents is how many of a cluster's last events its page lists.
const recentEvents = 50

// clusterInfo finds a cluster, answering 404 with the known ones if it does not exist.
func (u *UI) clusterInfo(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer) (store.ClusterInfo, bool) {
	name := r.PathValue("cluster")
	all, err := st.Clusters(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return store.ClusterInfo{}, false
	}
	var names []string
	for _, c := range all {
		if c.Name == name {
			return c, true
		}
		names = append(names, c.Name)
	}
	msg := fmt.Sprintf("No cluster is named %q.", name)
	if len(names) > 0 {
		msg += " Known clusters: " + strings.Join(names, ", ") + "."
	}
	u.render(w, http.StatusNotFound, "error", page{Title: "Unknown cluster", Viewer: v, Data: pageError{Title: "Unknown cluster", Message: msg}})
	return store.ClusterInfo{}, false
}

func (u *UI) cluster(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer) {
	info, ok := u.clusterInfo(w, r, st, v)
	if !ok {
		return
	}
	d := clusterData{Info: info, Formats: reports.Formats}
	var err error
	if d.Compliance, err = complianceOf(r.Context(), st, info.Name); err != nil {
		u.fail(w, r, err)
		return
	}
	reportsPage, err := st.Reports(r.Context(), store.ReportQuery{Cluster: &info.Name, Limit: 10})
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d.Reports = reportsPage.Reports
	if d.Policies, err = st.OpenFindingsByPolicy(r.Context(), info.Name); err != nil {
		u.fail(w, r, err)
		return
	}
	if info.Head != nil {
		page, err := st.Events(r.Context(), store.EventQuery{Cluster: info.Name, FromSeq: max(1, info.Head.Seq-recentEvents+1), Limit: recentEvents})
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Events = page.Events
		slices.Reverse(d.Events)
	}
	u.render(w, http.StatusOK, "cluster", page{Title: info.Name, Viewer: v, Cluster: info.Name, Data: d})
}

// policyData is the open findings of one policy in a cluster.
type policyData struct {
	PolicyID string
	Findings []store.Finding
	More     bool
}

// pageFindings is how many findings a page lists.
const pageFindings = 500

func (u *UI) policy(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer) {
	info, ok := u.clusterInfo(w, r, st, v)
	if !ok {
		return
	}
	id := r.PathValue("policy")
	res, err := st.Findings(r.Context(), store.FindingQuery{Cluster: info.Name, PolicyID: id, State: "open", Limit: pageFindings})
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, http.StatusOK, "policy", page{Title: id + " in " + info.Name, Viewer: v, Cluster: info.Name,
		Data: policyData{PolicyID: id, Findings: res.Findings, More: res.Next != ""}})
}

// objectData is one object's findings and trail.
type objectData struct {
	UID      string
	Object   *store.ObjectRef
	Findings []store.Finding
	Events   []store.Event
}

func (u *UI) object(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer) {
	info, ok := u.clusterInfo(w, r, st, v)
	if !ok {
		return
	}
	uid := r.PathValue("uid")
	findings, err := st.Findings(r.Context(), store.FindingQuery{Cluster: info.Name, UID: uid, Limit: pageFindings})
	if err != nil {
		u.fail(w, r, err)
		return
	}
	events, err := st.Events(r.Context(), store.EventQuery{Cluster: info.Name, UID: uid, Limit: 1000})
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := objectData{UID: uid, Findings: findings.Findings, Events: events.Events}
	switch {
	case len(d.Findings) > 0:
		ref := d.Findings[0].ObjectRef
		d.Object = &ref
	case len(d.Events) > 0:
		e := d.Events[0]
		d.Object = &store.ObjectRef{Cluster: e.Cluster, UID: e.UID, APIVersion: e.APIVersion, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name}
	default:
		u.render(w, http.StatusNotFound, "error", page{Title: "Unknown object", Viewer: v, Cluster: info.Name,
			Data: pageError{Title: "Unknown object", Message: fmt.Sprintf("Cluster %s has no finding or trail event of an object with uid %q.", info.Name, uid)}})
		return
	}
	slices.Reverse(d.Events)
	u.render(w, http.StatusOK, "object", page{Title: d.Object.Kind + " " + d.Object.Name, Viewer: v, Cluster: info.Name, Data: d})
}

func (u *UI) verify(w http.ResponseWriter, r *http.Request, st store.Store, v *viewer) {
	info, ok := u.clusterInfo(w, r, st, v)
	if !ok {
		return
	}
	res, err := trail.Verify(r.Context(), st, info.Name, trail.Range{})
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, http.StatusOK, "verify", page{Title: "Trail of " + info.Name, Viewer: v, Cluster: info.Name, Data: res})
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"whenp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"object": func(kind, namespace, name string) string {
		if namespace == "" {
			return kind + " " + name
		}
		return kind + " " + namespace + "/" + name
	},
	"severity": func(m map[string]int64, s string) int64 { return m[s] },
	"short": func(h string) string {
		return strings.TrimPrefix(h, trail.HashPrefix)[:min(12, len(strings.TrimPrefix(h, trail.HashPrefix)))]
	},
	"policies": func(vs []store.Violation) string {
		var ids []string
		for _, v := range vs {
			if !slices.Contains(ids, v.PolicyID) {
				ids = append(ids, v.PolicyID)
			}
		}
		return strings.Join(ids, " ")
	},
	"itoa":        func(n int64) string { return strconv.FormatInt(n, 10) },
	"path":        url.PathEscape,
	"score":       compliance.FormatScore,
	"statusClass": statusClass,
	"shortID":     shortID,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02")
	},
	"trendOf": func(v complianceView, fw string) *frameworkTrend {
		for i := range v.Trends {
			if v.Trends[i].Framework == fw {
				return &v.Trends[i]
			}
		}
		return nil
	},
}
