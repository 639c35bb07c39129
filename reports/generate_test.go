package reports

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/compliance"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The JSON rendering is the schema's reference: any change to it shows here.
func TestGoldenJSON(t *testing.T) {
	r := generate(t, Request{Cluster: "prod-eu", Framework: compliance.All})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "prod-eu-all.json")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -run TestGoldenJSON -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("the JSON report differs from %s; if the change is intended, run with -update and review the diff", golden)
	}
	// The golden file is a signed report that verifies.
	if _, _, err := VerifyJSON(want, testKey().Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("the golden report does not verify: %v", err)
	}
}

func TestControlStatuses(t *testing.T) {
	r := generate(t, Request{Cluster: "prod-eu", Framework: compliance.All})
	tests := []struct {
		control string
		want    compliance.Status
		reason  string
	}{
		{"CIS-5.2.2", compliance.Fail, "1 resource has open findings of its policies: BLF-PSS-007 (1)."},
		{"CIS-5.2.7", compliance.Fail, "2 resources have open findings of its policies: BLF-PSS-018 (2)."},
		{"CIS-5.1.3", compliance.Fail, "BLF-RBAC-001 (1)"},
		{"CIS-5.2.3", compliance.Pass, "No open finding for its 1 policy; at admission they found violations in 1 request in the period."},
		{"CIS-5.1.7", compliance.Manual, "Not automated"},
		{"CIS-5.1.2", compliance.NotApplicable, "no object of the kinds its policies check"},
		{"NSA-Resource-Policies", compliance.NotApplicable, "None of its policies (BLF-RES-001, BLF-RES-002, BLF-RES-003) is loaded."},
		{"NSA-Audit-Logging", compliance.Pass, "118 events in the period (seq 1 to 118) and verifies intact"},
		{"PSS-baseline", compliance.Fail, "BLF-PSS-007 (1)"},
		{"PSS-restricted", compliance.Fail, "BLF-PSS-018 (2), BLF-PSS-007 (1)"}, // includes baseline
		{"GDPR-Art44", compliance.Pass, "violations in 2 requests"},
		{"CIS-5.7.1", compliance.Manual, ""},
	}
	for _, tt := range tests {
		t.Run(tt.control, func(t *testing.T) {
			got := result(t, r, "prod-eu", tt.control)
			if got.Status != tt.want || !strings.Contains(got.Reason, tt.reason) {
				t.Fatalf("%s: %s (%s), want %s with reason containing %q", tt.control, got.Status, got.Reason, tt.want, tt.reason)
			}
		})
	}
}

func TestFailingEvidenceNamesResourcesFirstSeenAndTrailEvents(t *testing.T) {
	r := generate(t, Request{Cluster: "prod-eu", Framework: "cis"})
	res := result(t, r, "prod-eu", "CIS-5.2.7")
	if len(res.Failing) != 2 {
		t.Fatalf("failing resources: %+v", res.Failing)
	}
	first := res.Failing[0] // oldest first
	if first.Kind != "Pod" || first.Namespace != "payments" || first.Name != "debug-shell" || !first.FirstSeen.Equal(t0.Add(-300*60e9)) {
		t.Errorf("first failing resource: %+v", first)
	}
	v := first.Violations[0]
	if v.Finding != "f-root-1" || v.Policy != "BLF-PSS-018" || len(v.Events) != 1 || v.Events[0].Seq != 40 {
		t.Errorf("evidence of the violation: %+v", v)
	}
	// A finding first seen after the snapshot time is not evidence.
	for _, re := range result(t, r, "prod-eu", "CIS-5.2.2").Failing {
		if re.Name == "future" {
			t.Error("a finding after the snapshot time counts")
		}
	}
}

func TestScoresCountAutomatedControlsOnly(t *testing.T) {
	r := generate(t, Request{Cluster: "prod-eu", Framework: "pss"})
	s := r.Summary[0]
	if s.Framework != "pss" || s.Controls.Fail != 2 || s.Controls.Pass != 0 || *s.Score != 0 {
		t.Fatalf("PSS summary: %+v score %v", s, *s.Score)
	}
	c, _ := r.Cluster("prod-eu")
	for _, fw := range c.Frameworks {
		total := fw.Controls.Total()
		if total != len(fw.Results) {
			t.Errorf("%s: tally of %d for %d results", fw.Framework, total, len(fw.Results))
		}
	}
}

func TestFleetReportScoresEveryCluster(t *testing.T) {
	r := generate(t, Request{Fleet: true, Framework: "cis"})
	if r.Scope != ScopeFleet || len(r.Clusters) != 2 || r.Clusters[0].Cluster != "prod-eu" || r.Clusters[1].Cluster != "staging" {
		t.Fatalf("fleet report clusters: %+v", clusterNames(r))
	}
	s := r.Summary[0]
	if len(s.Clusters) != 2 {
		t.Fatalf("fleet summary: %+v", s)
	}
	var sum compliance.Tally
	for _, c := range r.Clusters {
		sum.Merge(c.Frameworks[0].Controls)
	}
	if sum != s.Controls {
		t.Errorf("fleet tally %+v is not the sum of the clusters' %+v", s.Controls, sum)
	}
}

func TestUnknownClusterOrFrameworkListsTheValidOnes(t *testing.T) {
	g := testGenerator(t, testSource())
	_, err := g.Generate(context.Background(), Request{Cluster: "prod-us", Framework: "cis"})
	var uc *UnknownClusterError
	if !errors.As(err, &uc) || err.Error() != `unknown cluster "prod-us": use one of prod-eu, staging` {
		t.Errorf("unknown cluster: %v", err)
	}
	_, err = g.Generate(context.Background(), Request{Cluster: "prod-eu", Framework: "sox"})
	var uf *compliance.UnknownFrameworkError
	if !errors.As(err, &uf) || !strings.Contains(err.Error(), "use one of cis, gdpr, nsa, pss or all") {
		t.Errorf("unknown framework: %v", err)
	}
}

func TestBrokenTrailIsReportedNotRefused(t *testing.T) {
	src := testSource()
	src.clusters["prod-eu"].trail = TrailRange{Status: TrailBroken, FromSeq: 1, ToSeq: 16, Events: 16, LastHash: "sha256:00",
		Break: &TrailBreak{Seq: 17, EventID: "evt-17", Reason: "hash mismatch"}}
	r, err := testGenerator(t, src).Generate(context.Background(), Request{Cluster: "prod-eu", Framework: "nsa"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.BrokenTrails(); len(got) != 1 || got[0] != "prod-eu" {
		t.Fatalf("broken trails: %v", got)
	}
	if res := result(t, r, "prod-eu", "NSA-Audit-Logging"); res.Status != compliance.Fail || !strings.Contains(res.Reason, "broken at seq 17") {
		t.Errorf("the trail control: %+v", res)
	}
}

func TestReportIDFollowsContent(t *testing.T) {
	a := generate(t, Request{Cluster: "prod-eu", Framework: "cis"})
	b := generate(t, Request{Cluster: "prod-eu", Framework: "cis"})
	c := generate(t, Request{Cluster: "prod-eu", Framework: "nsa"})
	if a.ID != b.ID || a.ID == c.ID || !strings.HasPrefix(a.ID, "rpt-") {
		t.Fatalf("ids %s %s %s", a.ID, b.ID, c.ID)
	}
}
