package reports

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// storeFixture is a real SQLite store filled through the store's API the way the
// webhook and the auditor fill it.
type storeFixture struct {
	st    store.Store
	path  string
	start time.Time // an hour ago: the first event
	fixed time.Time // when the root Deployment was fixed
}

func newStoreFixture(t *testing.T) *storeFixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bailiff.db")
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &storeFixture{st: st, path: path, start: time.Now().Add(-time.Hour).UTC().Truncate(time.Second)}
	at := func(min int) time.Time { return f.start.Add(time.Duration(min) * time.Minute) }

	// Admission: a denied privileged pod, a warned deployment, allowed requests, a
	// dry run, an exemption used.
	admission := func(id string, min int, kind, ns, name, decision string, vs ...store.Violation) store.Event {
		return store.Event{ID: id, Cluster: "prod-eu", Time: at(min), Source: trail.SourceAdmission, User: "alice",
			Operation: "CREATE", APIVersion: "v1", Kind: kind, Namespace: ns, Name: name, Decision: decision, Violations: vs}
	}
	deny := func(policy string) store.Violation {
		return store.Violation{PolicyID: policy, Severity: "critical", Enforcement: "deny", Message: policy + " says no"}
	}
	warn := func(policy string) store.Violation {
		return store.Violation{PolicyID: policy, Severity: "medium", Enforcement: "warn", Message: policy + " warns"}
	}
	dry := admission("adm-5", 5, "Pod", "shop", "dry", "denied", deny("BLF-PSS-003"))
	dry.DryRun = true
	exempt := admission("exm-6", 6, "Pod", "payments", "debug-shell", "used", deny("BLF-PSS-003"))
	exempt.Source = trail.SourceExemption
	events := []store.Event{
		admission("adm-1", 1, "Pod", "shop", "privileged", "denied", deny("BLF-PSS-007"), deny("BLF-PSS-003")),
		admission("adm-2", 2, "Deployment", "shop", "frontend", "warned", warn("BLF-RBAC-008")),
		admission("adm-3", 3, "Deployment", "shop", "backend", "allowed"),
		admission("adm-4", 4, "Pod", "shop", "hostnet", "denied", deny("BLF-PSS-003")),
		dry, exempt,
	}
	if _, err := st.AppendEvents(ctx, "prod-eu", events, trail.Hash); err != nil {
		t.Fatal(err)
	}
	// Audit: a privileged pod that predates the webhook, a root deployment fixed
	// later, and a compliant one.
	ref := func(kind, ns, name string) store.ObjectRef {
		return store.ObjectRef{UID: "uid-" + name, APIVersion: apiVersion(kind), Kind: kind, Namespace: ns, Name: name}
	}
	audit := func(min int, rs ...results.ObjectResult) {
		t.Helper()
		for i := range rs {
			rs[i].EvaluatedAt = at(min)
		}
		if _, err := results.Apply(ctx, st, results.Request{Cluster: "prod-eu", Results: rs}); err != nil {
			t.Fatal(err)
		}
	}
	audit(10,
		results.ObjectResult{Object: ref("Pod", "payments", "debug-shell"), Violations: []store.Violation{deny("BLF-PSS-007")}},
		results.ObjectResult{Object: ref("Deployment", "shop", "root-app"), Violations: []store.Violation{deny("BLF-PSS-018")}},
		results.ObjectResult{Object: ref("Deployment", "shop", "backend")},
	)
	audit(20, results.ObjectResult{Object: ref("Deployment", "shop", "root-app")}) // fixed
	f.fixed = at(20)
	// Another cluster, so unknown-cluster errors have something to list.
	other := store.Event{ID: "stg-1", Cluster: "staging", Time: at(1), Source: trail.SourceAdmission, Operation: "CREATE", Kind: "Pod", Name: "x", Decision: "allowed"}
	if _, err := st.AppendEvents(ctx, "staging", []store.Event{other}, trail.Hash); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *storeFixture) generate(t *testing.T, req Request) *Report {
	t.Helper()
	g := testGenerator(t, &StoreSource{Store: f.st})
	g.Now = time.Now
	r, err := g.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *storeFixture) tamper(t *testing.T, statement string) {
	t.Helper()
	db, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(statement); err != nil {
		t.Fatal(err)
	}
}

func TestReportFromARealStore(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	r := f.generate(t, Request{Cluster: "prod-eu", Framework: compliance.All})
	c, _ := r.Cluster("prod-eu")

	head, err := f.st.ChainHead(ctx, "prod-eu")
	if err != nil {
		t.Fatal(err)
	}
	if c.Trail.Status != TrailIntact || c.Trail.FromSeq != 1 || c.Trail.ToSeq != head.Seq || c.Trail.LastHash != head.Hash || c.Trail.Events != head.Seq {
		t.Errorf("trail %+v, head seq %d hash %s", c.Trail, head.Seq, head.Hash)
	}
	if want := (AdmissionTotals{Total: 4, Allowed: 1, Warned: 1, Denied: 2, DryRuns: 1}); c.Admissions != want {
		t.Errorf("admissions %+v, want %+v", c.Admissions, want)
	}
	if c.OpenFindings != 1 {
		t.Errorf("%d open findings, want 1 (the fixed deployment's is resolved)", c.OpenFindings)
	}

	priv := result(t, r, "prod-eu", "CIS-5.2.2")
	if priv.Status != compliance.Fail || len(priv.Failing) != 1 {
		t.Fatalf("CIS-5.2.2: %+v", priv)
	}
	re := priv.Failing[0]
	if re.Kind != "Pod" || re.Namespace != "payments" || re.Name != "debug-shell" || !re.FirstSeen.Equal(f.start.Add(10*time.Minute)) {
		t.Errorf("failing resource %+v", re)
	}
	// The evidence's trail event is the auditor's "opened" event, in the chain.
	ev := re.Violations[0].Events
	if len(ev) != 1 {
		t.Fatalf("trail events of the finding: %+v", ev)
	}
	page, err := f.st.Events(ctx, store.EventQuery{Cluster: "prod-eu", FromSeq: ev[0].Seq, ToSeq: ev[0].Seq})
	if err != nil || len(page.Events) != 1 {
		t.Fatal(err)
	}
	if e := page.Events[0]; e.ID != ev[0].ID || e.Source != trail.SourceAudit || e.Decision != "opened" || e.Name != "debug-shell" {
		t.Errorf("the evidence's event is %+v", e)
	}
	if p := priv.Policies[0]; p.Admission.Denied != 1 {
		t.Errorf("BLF-PSS-007 at admission: %+v", p.Admission)
	}

	hostns := result(t, r, "prod-eu", "CIS-5.2.3")
	if hostns.Status != compliance.Pass || hostns.Policies[0].Admission != (PolicyAdmissions{Denied: 2, Exempted: 1}) {
		t.Errorf("CIS-5.2.3: %+v", hostns)
	}
	if sa := result(t, r, "prod-eu", "CIS-5.1.5"); sa.Policies[0].Admission.Warned != 1 {
		t.Errorf("CIS-5.1.5: %+v", sa.Policies)
	}
	// Fixed before the snapshot: passes now.
	if root := result(t, r, "prod-eu", "CIS-5.2.7"); root.Status != compliance.Pass {
		t.Errorf("CIS-5.2.7: %+v", root)
	}
	// The store does not say which kinds exist, so nothing is guessed not applicable.
	if res := result(t, r, "prod-eu", "CIS-5.1.2"); res.Status != compliance.Pass {
		t.Errorf("CIS-5.1.2 with an unknown inventory: %s", res.Status)
	}
	if err := Sign(r, testKey()); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	WriteJSON(&buf, r)
	if _, _, err := VerifyJSON(buf.Bytes(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotInThePastSeesFindingsResolvedSince(t *testing.T) {
	f := newStoreFixture(t)
	r := f.generate(t, Request{Cluster: "prod-eu", Framework: "cis", Period: Period{To: f.fixed}})
	root := result(t, r, "prod-eu", "CIS-5.2.7")
	if root.Status != compliance.Fail || len(root.Failing) != 1 || root.Failing[0].Name != "root-app" {
		t.Fatalf("CIS-5.2.7 just before the fix: %+v", root)
	}
	c, _ := r.Cluster("prod-eu")
	if c.Trail.ToSeq >= 9 { // the events of the fix and of staging come after
		t.Errorf("the trail range of a past snapshot ends at %d", c.Trail.ToSeq)
	}
}

func TestReportOverATamperedStoreIsMarkedBroken(t *testing.T) {
	f := newStoreFixture(t)
	f.tamper(t, "UPDATE events SET decision = 'allowed' WHERE cluster = 'prod-eu' AND seq = 4")
	r := f.generate(t, Request{Cluster: "prod-eu", Framework: "gdpr"})
	c, _ := r.Cluster("prod-eu")
	if !c.Trail.Broken() || c.Trail.Break.Seq != 4 || !strings.Contains(c.Trail.Break.Reason, "hash mismatch") {
		t.Fatalf("trail %+v", c.Trail)
	}
	if c.Admissions.Total != 4 {
		t.Errorf("admissions over a broken trail are still counted, from a second pass: %+v", c.Admissions)
	}
	if res := result(t, r, "prod-eu", "GDPR-Art32-Logging"); res.Status != compliance.Fail {
		t.Errorf("GDPR-Art32-Logging over a broken trail: %+v", res)
	}
	var html bytes.Buffer
	WriteHTML(&html, r, RenderOptions{})
	if !strings.Contains(html.String(), "Trail verification failed") {
		t.Error("the HTML cover does not say the trail is broken")
	}
	var pdf bytes.Buffer
	WritePDF(&pdf, r, RenderOptions{})
	if _, text := checkPDF(t, pdf.Bytes()); !strings.Contains(strings.Split(text, "\f")[0], "TRAIL VERIFICATION FAILED") {
		t.Error("the PDF cover does not say the trail is broken")
	}
}

func TestStoreSourceUnknownClusterListsTheStoresClusters(t *testing.T) {
	f := newStoreFixture(t)
	g := testGenerator(t, &StoreSource{Store: f.st})
	_, err := g.Generate(context.Background(), Request{Cluster: "prod-us", Framework: "cis"})
	var uc *UnknownClusterError
	if !errors.As(err, &uc) || fmt.Sprint(uc.Valid) != "[prod-eu staging]" {
		t.Fatalf("got %v", err)
	}
}

func TestPeriodBoundsActivityButNotEvidence(t *testing.T) {
	f := newStoreFixture(t)
	from := f.start.Add(4 * time.Minute) // after adm-1..adm-3, before the audit at +10
	r := f.generate(t, Request{Cluster: "prod-eu", Framework: "cis", Period: Period{From: from}})
	c, _ := r.Cluster("prod-eu")
	if want := (AdmissionTotals{Total: 1, Denied: 1, DryRuns: 1}); c.Admissions != want {
		t.Errorf("admissions in the period %+v, want %+v", c.Admissions, want)
	}
	if c.Trail.FromSeq != 4 {
		t.Errorf("the trail range starts at %d, want 4", c.Trail.FromSeq)
	}
	// Opened inside the period: its event comes from the trail pass.
	priv := result(t, r, "prod-eu", "CIS-5.2.2")
	if len(priv.Failing) != 1 || len(priv.Failing[0].Violations[0].Events) != 1 {
		t.Fatalf("CIS-5.2.2 evidence: %+v", priv.Failing)
	}
	// Opened before the period: its event is still found.
	late := f.generate(t, Request{Cluster: "prod-eu", Framework: "cis", Period: Period{From: f.start.Add(15 * time.Minute)}})
	priv = result(t, late, "prod-eu", "CIS-5.2.2")
	if len(priv.Failing) != 1 || len(priv.Failing[0].Violations[0].Events) != 1 {
		t.Fatalf("CIS-5.2.2 evidence of a finding opened before the period: %+v", priv.Failing)
	}
}
