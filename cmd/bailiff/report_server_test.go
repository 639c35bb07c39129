package main

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/reports"
	"github.com/bailiff/bailiff/server"
)

func TestReportDownloadedFromTheServerVerifies(t *testing.T) {
	dsn, _ := trailStore(t, 20)
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	engine, err := policy.New(ctx, policy.Options{SkipTests: true})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := compliance.Load()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := reports.LoadOrCreateKey(filepath.Join(t.TempDir(), "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	keeper := &reports.Keeper{Key: key, Generator: reports.Generator{Catalogue: cat, Policies: reports.PoliciesOf(engine.Set())}}
	ts := httptest.NewTLSServer(server.New(server.Options{Store: st, Reports: keeper}).Handler())
	defer ts.Close()
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})))
	tok, err := server.CreateCredential(ctx, st, server.CredentialRequest{Name: "auditor", Role: store.RoleAuditor}, "test")
	if err != nil {
		t.Fatal(err)
	}
	auditor := writeFile(t, dir, "auditor.token", tok+"\n")
	report := func(args ...string) (int, string, string) {
		return runCLI(t, "", append([]string{"report", "--server", ts.URL, "--ca-file", ca, "--token-file", auditor}, args...)...)
	}

	pdf := filepath.Join(dir, "cis.pdf")
	code, stdout, stderr := report("--cluster", "prod", "--framework", "cis", "--format", "pdf", "-o", pdf)
	if code != 0 || !strings.Contains(stdout, " made by ") || !strings.Contains(stdout, "bailiff report verify") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{pdf, pdf + ".sig", pdf + ".pub"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if code, stdout, stderr := runCLI(t, "", "report", "verify", pdf, "--public-key", pdf+".pub"); code != 0 {
		t.Fatalf("the downloaded PDF does not verify: %d\n%s\n%s", code, stdout, stderr)
	}

	// A kept report downloaded again by its ID, as JSON.
	page, err := st.Reports(ctx, store.ReportQuery{Limit: 1})
	if err != nil || len(page.Reports) != 1 {
		t.Fatalf("kept reports: %v %v", page, err)
	}
	doc := filepath.Join(dir, "again.json")
	if code, stdout, stderr := report("--id", page.Reports[0].ID, "-o", doc); code != 0 {
		t.Fatalf("by ID: %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "", "report", "verify", doc, "--public-key", pdf+".pub"); code != 0 {
		t.Fatalf("the JSON does not verify: %s", stderr)
	}

	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"an unknown cluster", []string{"--cluster", "nowhere", "-o", filepath.Join(dir, "x.json")}, "prod"},
		{"an unknown framework", []string{"--cluster", "prod", "--framework", "sox", "-o", filepath.Join(dir, "x.json")}, "cis"},
		{"no output", []string{"--cluster", "prod"}, "-o"},
		{"cluster and fleet", []string{"--cluster", "prod", "--fleet", "-o", filepath.Join(dir, "x.json")}, "--fleet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, stderr := report(tc.args...); code != 2 || !strings.Contains(stderr, tc.says) {
				t.Errorf("exit %d, stderr %q; want 2 saying %q", code, stderr, tc.says)
			}
		})
	}
}
