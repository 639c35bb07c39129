package server

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/reports"
	"github.com/bailiff/bailiff/server/ui"
)

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct {
	t      testing.TB
	ts     *testServer
	client *http.Client
}

func newBrowser(t testing.TB, ts *testServer) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, ts: ts, client: &c}
}

func (b *browser) do(req *http.Request) (int, http.Header, string) {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func (b *browser) get(path string) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.ts.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// seedUI gives cluster prod a trail and open findings from the auditor.
func seedUI(t testing.TB, ts *testServer) {
	t.Helper()
	if code, body := ts.ingest(t, "prod", trail.IngestRequest{Cluster: "prod", Events: events("prod", "adm", 5)}); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	web := store.ObjectRef{UID: "uid-web", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	_, err := results.Apply(context.Background(), ts.store, results.Request{Cluster: "prod", Results: []results.ObjectResult{{
		Object: web, EvaluatedAt: t0,
		Violations: []store.Violation{
			{PolicyID: "BLF-IMG-001", Severity: "high", Enforcement: "deny", Message: "image registry.evil.io/web:1 is not from an allowed registry", Field: "spec.template.spec.containers[0].image"},
			{PolicyID: "BLF-RES-001", Severity: "medium", Enforcement: "deny", Message: "container \"web\" sets no memory limit"},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPagesNeedAnAuditorsToken(t *testing.T) {
	ts := newTestServer(t, Options{})
	seedUI(t, ts)
	b := newBrowser(t, ts)

	for _, path := range []string{"/ui/", "/ui/clusters/prod", "/ui/clusters/prod/objects/uid-web", "/ui/clusters/prod/verify"} {
		code, h, _ := b.get(path)
		if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/ui/login?next=") {
			t.Errorf("GET %s without signing in: %d to %q, want a redirect to the sign-in page", path, code, h.Get("Location"))
		}
	}
	if code, h, _ := b.get("/"); code != http.StatusSeeOther || h.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d to %q", code, h.Get("Location"))
	}
	// A cookie with an unknown token is no better.
	u, _ := url.Parse(ts.URL + "/ui/")
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: ui.CookieName, Value: "blf_forged", Path: "/ui/"}})
	if code, _, _ := b.get("/ui/"); code != http.StatusSeeOther {
		t.Errorf("a forged cookie: %d, want a redirect to the sign-in page", code)
	}

	tests := []struct {
		name, token string
		code        int
		says        string
	}{
		{"no token", "", http.StatusBadRequest, "Paste an auditor"},
		{"an unknown token", "blf_nobody", http.StatusUnauthorized, "not valid"},
		{"a cluster's token", ts.tokens["prod"], http.StatusForbidden, "cluster credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(stored(t, ts.store, trail.ServerCluster))
			code, _, body := b.post("/ui/login", url.Values{"token": {tt.token}, "next": {"/ui/"}})
			if code != tt.code || !strings.Contains(body, tt.says) {
				t.Fatalf("%d, body lacks %q:\n%s", code, tt.says, body)
			}
			after := stored(t, ts.store, trail.ServerCluster)
			if tt.code == http.StatusForbidden && (len(after) != before+1 || after[len(after)-1].Decision != "forbidden") {
				t.Errorf("a refused sign-in is not recorded in the server's trail")
			}
		})
	}
}

func TestPagesShowTheFleetAClusterAndAnObject(t *testing.T) {
	ts := newTestServer(t, Options{})
	seedUI(t, ts)
	b := newBrowser(t, ts)
	code, h, _ := b.post("/ui/login", url.Values{"token": {" " + ts.tokens["auditor"] + "\n"}, "next": {"/ui/clusters/prod"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/clusters/prod" {
		t.Fatalf("sign-in: %d to %q", code, h.Get("Location"))
	}
	cookie := h.Get("Set-Cookie")
	for _, want := range []string{ui.CookieName + "=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/ui/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("cookie %q lacks %s", cookie, want)
		}
	}

	pages := []struct {
		path  string
		code  int
		shows []string
	}{
		{"/ui/", 200, []string{"Fleet", `href="/ui/clusters/prod"`, ">prod<", "auditor (auditor)"}},
		{"/ui/clusters/prod", 200, []string{"Cluster prod", "BLF-IMG-001", "BLF-RES-001", `href="/ui/clusters/prod/policies/BLF-IMG-001"`, "Latest trail events", "opened"}},
		{"/ui/clusters/prod/policies/BLF-IMG-001", 200, []string{"not from an allowed registry", "Deployment shop/web", `href="/ui/clusters/prod/objects/uid-web"`, "spec.template.spec.containers[0].image"}},
		{"/ui/clusters/prod/objects/uid-web", 200, []string{"Deployment shop/web", "uid-web", "BLF-RES-001", "audit", "opened"}},
		{"/ui/clusters/prod/verify", 200, []string{"Intact: 6 events"}},
		{"/ui/clusters/nowhere", 404, []string{"No cluster is named", "Known clusters: _server, prod"}},
		{"/ui/clusters/prod/objects/uid-none", 404, []string{"no finding or trail event of an object"}},
		{"/ui/nothing", 404, []string{"There is no page"}},
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			code, h, body := b.get(p.path)
			if code != p.code {
				t.Fatalf("%d, want %d:\n%s", code, p.code, body)
			}
			for _, want := range p.shows {
				if !strings.Contains(body, want) {
					t.Errorf("the page lacks %q:\n%s", want, body)
				}
			}
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if strings.Contains(body, "<script") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
				t.Errorf("the page loads something from elsewhere or runs a script")
			}
		})
	}

	// Signing out forgets the token.
	if code, h, _ := b.post("/ui/logout", nil); code != http.StatusSeeOther || h.Get("Location") != "/ui/login" {
		t.Fatalf("sign out: %d to %q", code, h.Get("Location"))
	}
	if code, _, _ := b.get("/ui/"); code != http.StatusSeeOther {
		t.Errorf("after signing out: %d, want a redirect to the sign-in page", code)
	}
}

func TestSignInRedirectsOnlyWithinThePages(t *testing.T) {
	ts := newTestServer(t, Options{})
	b := newBrowser(t, ts)
	for _, next := range []string{"https://evil.example/", "//evil.example/ui/", "/api/v1/events", "/ui/\\evil"} {
		code, h, _ := b.post("/ui/login", url.Values{"token": {ts.tokens["auditor"]}, "next": {next}})
		if code != http.StatusSeeOther || h.Get("Location") != "/ui/" {
			t.Errorf("next=%q: %d to %q, want /ui/", next, code, h.Get("Location"))
		}
	}
}

func TestPagesShowCompliance(t *testing.T) {
	keeper := testKeeper(t)
	ts := newTestServer(t, Options{Reports: keeper})
	seedUI(t, ts)
	ctx := context.Background()
	rec, _, err := keeper.Create(ctx, ts.store, reports.Request{Cluster: "prod", Framework: compliance.All})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keeper.Create(ctx, ts.store, reports.Request{Fleet: true, Framework: compliance.All}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts)
	if code, _, _ := b.post("/ui/login", url.Values{"token": {ts.tokens["auditor"]}}); code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", code)
	}
	for _, p := range []struct {
		path  string
		shows []string
	}{
		{"/ui/", []string{`id="scores"`, "<th>cis</th>", "<th>gdpr</th>", "<strong>Fleet</strong>", `class="spark"`, "/ui/reports/" + rec.ID}},
		{"/ui/clusters/prod", []string{`id="compliance"`, `id="latest-report"`, "not compliant since", `href="/ui/reports/` + rec.ID + `/download?format=pdf"`}},
		{"/ui/reports/" + rec.ID, []string{"Compliance report", `id="summary"`, "CIS-5.7", `class="evidence" href="/ui/clusters/prod/objects/uid-web"`, "st-fail", "st-manual", "Signed by key"}},
	} {
		t.Run(p.path, func(t *testing.T) {
			code, _, body := b.get(p.path)
			if code != 200 {
				t.Fatalf("%d:\n%s", code, body)
			}
			for _, want := range p.shows {
				if !strings.Contains(body, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
		})
	}
	code, h, body := b.get("/ui/reports/" + rec.ID + "/download?format=pdf")
	if code != 200 || h.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(body, "%PDF-") || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") {
		t.Errorf("download: %d %v", code, h)
	}
	if code, _, _ := b.get("/ui/reports/" + rec.ID + "/download?format=docx"); code != http.StatusBadRequest {
		t.Errorf("an unknown format: %d", code)
	}
	if code, _, body := b.get("/ui/reports/nope"); code != http.StatusNotFound || !strings.Contains(body, "There is no report") {
		t.Errorf("an unknown report: %d", code)
	}
}
