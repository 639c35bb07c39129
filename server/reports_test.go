package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/reports"
)

var (
	policiesOnce sync.Once
	policyInfos  []reports.PolicyInfo
	policyErr    error
)

// testKeeper is a report keeper over the embedded policy library, with a fixed key.
func testKeeper(t testing.TB) *reports.Keeper {
	t.Helper()
	policiesOnce.Do(func() {
		var e *policy.Engine
		if e, policyErr = policy.New(context.Background(), policy.Options{SkipTests: true}); policyErr == nil {
			policyInfos = reports.PoliciesOf(e.Set())
		}
	})
	if policyErr != nil {
		t.Fatal(policyErr)
	}
	cat, err := compliance.Load()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := reports.LoadOrCreateKey(filepath.Join(t.TempDir(), "report.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &reports.Keeper{Generator: reports.Generator{Catalogue: cat, Policies: policyInfos, Version: "test"}, Key: key}
}

func TestReportsAreMadeKeptAndDownloaded(t *testing.T) {
	ts := newTestServer(t, Options{Reports: testKeeper(t)})
	seedUI(t, ts)
	auditor := ts.tokens["auditor"]
	post := func(body string) (int, []byte) {
		t.Helper()
		return ts.call(t, http.MethodPost, ReportsPath, auditor, []byte(body))
	}

	code, body := post(`{"cluster": "prod", "framework": "cis"}`)
	if code != http.StatusCreated {
		t.Fatalf("%d %s", code, body)
	}
	rec := decode[store.ReportRecord](t, body)
	if rec.ID == "" || rec.Cluster != "prod" || strings.Join(rec.Frameworks, ",") != "cis" || !rec.TrailOK {
		t.Fatalf("made %+v", rec)
	}
	if code, body := post(`{"fleet": true}`); code != http.StatusCreated {
		t.Fatalf("a fleet report of every framework: %d %s", code, body)
	}

	for _, tc := range []struct {
		name, body string
		code       int
		says       string
	}{
		{"an unknown cluster", `{"cluster": "nowhere", "framework": "cis"}`, 404, "prod"},
		{"an unknown framework", `{"cluster": "prod", "framework": "sox"}`, 404, "cis"},
		{"cluster and fleet", `{"cluster": "prod", "fleet": true}`, 400, "not both"},
		{"neither", `{"framework": "cis"}`, 400, "name one cluster"},
		{"a bad time", `{"cluster": "prod", "from": "last week"}`, 400, "from"},
		{"a period that ends before it starts", `{"cluster": "prod", "from": "2030-01-02", "to": "2030-01-01"}`, 400, "period"},
		{"an unknown field", `{"cluster": "prod", "format": "pdf"}`, 400, "format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.body)
			if code != tc.code || !strings.Contains(string(body), tc.says) {
				t.Errorf("%d %s, want %d saying %q", code, body, tc.code, tc.says)
			}
		})
	}

	code, body = ts.call(t, http.MethodGet, ReportsPath+"?cluster=prod", auditor, nil)
	if page := decode[ReportPage](t, body); code != 200 || len(page.Reports) != 1 || page.Reports[0].ID != rec.ID {
		t.Fatalf("prod's reports: %d %s", code, body)
	}
	code, body = ts.call(t, http.MethodGet, ReportsPath+"?fleet=true", auditor, nil)
	if page := decode[ReportPage](t, body); code != 200 || len(page.Reports) != 1 || page.Reports[0].Cluster != "" {
		t.Fatalf("the fleet's reports: %d %s", code, body)
	}
	if code, body := ts.call(t, http.MethodGet, ReportsPath+"?fleet=true&cluster=prod", auditor, nil); code != 400 {
		t.Errorf("fleet and cluster: %d %s", code, body)
	}

	_, keyPEM := ts.call(t, http.MethodGet, ReportsPath+"/public-key", auditor, nil)
	keyFile := filepath.Join(t.TempDir(), "report.pub")
	if err := os.WriteFile(keyFile, keyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	pub, err := reports.LoadPublicKey(keyFile)
	if err != nil {
		t.Fatalf("the public key endpoint: %v (%s)", err, keyPEM)
	}

	download := func(format string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+ReportsPath+"/"+rec.ID+"?format="+format, nil)
		req.Header.Set("Authorization", "Bearer "+auditor)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.Bytes()
	}
	resp, doc := download("json")
	if _, v, err := reports.VerifyJSON(doc, pub); resp.StatusCode != 200 || err != nil || v.ReportID != rec.ID {
		t.Fatalf("the JSON report: %d, %v", resp.StatusCode, err)
	}
	resp, pdf := download("pdf")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="bailiff-prod-cis-`) {
		t.Fatalf("the PDF: %d %v", resp.StatusCode, resp.Header)
	}
	code, sig := ts.call(t, http.MethodGet, ReportsPath+"/"+rec.ID+"/signature?format=pdf", auditor, nil)
	if _, err := reports.VerifyDetached(pdf, sig, pub); code != 200 || err != nil {
		t.Fatalf("the PDF's detached signature: %d %v", code, err)
	}
	for _, format := range []string{"csv", "html"} {
		if resp, b := download(format); resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %d", format, resp.StatusCode)
		}
	}
	if resp, _ := download("docx"); resp.StatusCode != 400 {
		t.Errorf("an unknown format: %d", resp.StatusCode)
	}
	if code, body := ts.call(t, http.MethodGet, ReportsPath+"/nope", auditor, nil); code != 404 {
		t.Errorf("an unknown report: %d %s", code, body)
	}
	if code, _ := ts.call(t, http.MethodGet, ReportsPath+"?cluster=prod", ts.tokens["prod"], nil); code != 403 {
		t.Errorf("a cluster's token lists reports: %d", code)
	}
	if code, _ := ts.call(t, http.MethodPost, ReportsPath, ts.tokens["prod"], []byte(`{"cluster":"prod"}`)); code != 403 {
		t.Errorf("a cluster's token makes a report: %d", code)
	}

	// A report altered in the database is not served.
	db, err := sql.Open("sqlite", ts.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE reports SET body = (SELECT body FROM reports WHERE cluster = '') WHERE id = ?", rec.ID); err != nil {
		t.Fatal(err)
	}
	if resp, b := download("json"); resp.StatusCode != 500 || !strings.Contains(string(b), "signature check") {
		t.Errorf("an altered report: %d %s", resp.StatusCode, b)
	}
}

func TestReportsNeedAKey(t *testing.T) {
	ts := newTestServer(t, Options{})
	code, body := ts.call(t, http.MethodPost, ReportsPath, ts.tokens["auditor"], []byte(`{"cluster":"prod"}`))
	var e struct{ Error string }
	json.Unmarshal(body, &e)
	if code != http.StatusServiceUnavailable || !strings.Contains(e.Error, "signing key") {
		t.Errorf("%d %s", code, body)
	}
}
