package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/store"
)

// reportStore is trailStore's store plus an audit finding: a privileged pod.
func reportStore(t *testing.T) (dsn, path string) {
	t.Helper()
	dsn, path = trailStore(t, 30)
	st, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = results.Apply(context.Background(), st, results.Request{Cluster: "prod", Results: []results.ObjectResult{{
		Object:      store.ObjectRef{UID: "u1", APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "root"},
		EvaluatedAt: t0.Add(time.Hour),
		Violations:  []store.Violation{{PolicyID: "BLF-PSS-007", Severity: "critical", Enforcement: "deny", Message: "privileged"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return dsn, path
}

func TestReportGenerateAndVerify(t *testing.T) {
	dsn, _ := reportStore(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "report.key")
	out := filepath.Join(dir, "cis.json")
	code, stdout, stderr := runCLI(t, "", "report", "generate", "--store", dsn, "--cluster", "prod", "--framework", "cis", "--format", "json", "-o", out, "--key", key)
	if code != 0 {
		t.Fatalf("generate: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "created signing key") || !strings.Contains(stdout, "cis") {
		t.Errorf("generate said:\n%s%s", stdout, stderr)
	}
	var r struct {
		Clusters []struct {
			Trail struct{ Status string }
		}
	}
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &r); err != nil || r.Clusters[0].Trail.Status != "intact" {
		t.Fatalf("report: %v %+v", err, r)
	}

	code, stdout, _ = runCLI(t, "", "report", "verify", out, "--public-key", key+".pub")
	if code != 0 || !strings.Contains(stdout, "signature OK") || !strings.Contains(stdout, "--public-key") {
		t.Fatalf("verify: exit %d\n%s", code, stdout)
	}
	altered := filepath.Join(dir, "altered.json")
	i := strings.Index(string(data), `"privileged"`) + 2
	data[i] ^= 0x01
	os.WriteFile(altered, data, 0o644)
	code, _, stderr = runCLI(t, "", "report", "verify", altered, "--public-key", key+".pub")
	if code != 1 || !strings.Contains(stderr, "signature does not verify") {
		t.Fatalf("verify of an altered report: exit %d\n%s", code, stderr)
	}

	pdf := filepath.Join(dir, "cis.pdf")
	code, stdout, stderr = runCLI(t, "", "report", "generate", "--store", dsn, "--cluster", "prod", "--framework", "cis", "--format", "pdf", "-o", pdf, "--key", key)
	if code != 0 || !strings.Contains(stdout, "cis.pdf.sig") {
		t.Fatalf("generate PDF: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ = runCLI(t, "", "report", "verify", pdf, "--public-key", key+".pub"); code != 0 {
		t.Fatalf("verify PDF: exit %d\n%s", code, stdout)
	}
	b, _ := os.ReadFile(pdf)
	b[len(b)/2] ^= 0x01
	os.WriteFile(pdf, b, 0o644)
	if code, _, stderr = runCLI(t, "", "report", "verify", pdf); code != 1 || !strings.Contains(stderr, "altered") {
		t.Fatalf("verify of an altered PDF: exit %d\n%s", code, stderr)
	}
}

func TestReportGenerateOverABrokenTrail(t *testing.T) {
	dsn, path := reportStore(t)
	tamper(t, path, "UPDATE events SET name = 'other' WHERE seq = 12")
	dir := t.TempDir()
	out := filepath.Join(dir, "r.html")
	code, _, stderr := runCLI(t, "", "report", "generate", "--store", dsn, "--cluster", "prod", "--format", "html", "-o", out, "--key", filepath.Join(dir, "k"))
	if code != 1 || !strings.Contains(stderr, "BROKEN at seq 12") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), "Trail verification failed") {
		t.Fatalf("the HTML report was not written or does not say the trail is broken: %v", err)
	}
}

func TestReportGenerateBadInputNamesTheValidChoices(t *testing.T) {
	dsn, _ := reportStore(t)
	dir := t.TempDir()
	args := func(extra ...string) []string {
		return append([]string{"report", "generate", "--store", dsn, "-o", filepath.Join(dir, "r.json"), "--key", filepath.Join(dir, "k")}, extra...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown cluster", args("--cluster", "prod-us"), `unknown cluster "prod-us": use one of prod`},
		{"an unknown framework", args("--cluster", "prod", "--framework", "sox"), "use one of cis, gdpr, nsa, pss or all"},
		{"an unknown format", args("--cluster", "prod", "--format", "docx"), "use one of json, csv, html, pdf"},
		{"no cluster", args(), "name one cluster with --cluster, or ask for every cluster with --fleet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q, want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

func TestComplianceControls(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "compliance", "controls", "--framework", "cis")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"CIS-5.1.1", "BLF-RBAC-002", "CIS-5.1.7", "CIS-5.5.1", "manual", "31 controls"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the table does not show %q", want)
		}
	}
	code, stdout, _ = runCLI(t, "", "compliance", "controls", "-o", "json")
	var rows []struct{ Framework, ID, Automation string }
	if code != 0 || json.Unmarshal([]byte(stdout), &rows) != nil || len(rows) < 50 {
		t.Fatalf("json: exit %d, %d rows", code, len(rows))
	}
}
