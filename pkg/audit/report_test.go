package audit

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/store"
)

var evaluatedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// obj builds a report object of a kind with the given violations.
func obj(kind, name string, vs ...policy.Violation) reportObject {
	return reportObject{
		ref:         store.ObjectRef{Cluster: "prod", UID: "uid-" + name, APIVersion: "v1", Kind: kind, Namespace: "shop", Name: name},
		violations:  vs,
		evaluatedAt: evaluatedAt,
	}
}

func violation(id, severity, enforcement string) policy.Violation {
	return policy.Violation{Policy: id, Severity: severity, Enforcement: enforcement, Message: id + " is violated", Field: "spec"}
}

var testPolicies = map[string]policy.Metadata{
	"BLF-A": {ID: "BLF-A", Title: "A holds", Severity: "low", Package: "bailiff.images.a", Controls: []string{"CIS-1"}},
	"BLF-B": {ID: "BLF-B", Title: "B holds", Severity: "critical", Package: "bailiff.rbac.b"},
	"BLF-C": {ID: "BLF-C", Title: "C holds", Severity: "medium", Package: "bailiff.resources.c"},
}

func reportOf(objects []reportObject, max, maxBytes int) PolicyReport {
	return buildReport(reportInput{
		name: "bailiff-audit", namespace: "shop", cluster: "prod", objects: objects, policies: testPolicies,
		applicable:       func(string) []string { return []string{"BLF-A", "BLF-B", "BLF-C"} },
		policySetVersion: "v1", maxResults: max, maxBytes: maxBytes,
	})
}

func TestReportListsFailuresFirstBySeverityAndCountsEverything(t *testing.T) {
	objects := []reportObject{
		obj("Pod", "a", violation("BLF-A", "low", "deny")),
		obj("Pod", "b", violation("BLF-B", "critical", "deny"), violation("BLF-C", "medium", "warn")),
		obj("Pod", "c"),
	}
	r := reportOf(objects, 2, DefaultReportMaxBytes)
	if got, want := r.Summary, (ReportSummary{Pass: 6, Fail: 2, Warn: 1}); got != want {
		t.Fatalf("summary %+v, want %+v", got, want)
	}
	if len(r.Results) != 2 {
		t.Fatalf("listed %d results, want the cap of 2", len(r.Results))
	}
	if r.Results[0].Policy != "BLF-B" || r.Results[1].Policy != "BLF-A" {
		t.Fatalf("want the critical failure, then the low one; got %s, %s", r.Results[0].Policy, r.Results[1].Policy)
	}
	if got := r.Metadata.Annotations[AnnotationOmitted]; got != "7" {
		t.Fatalf("omitted annotation %q, want 7", got)
	}
	if !strings.Contains(r.Metadata.Annotations[AnnotationFullResults], "/api/v1/findings?state=open&cluster=prod&namespace=shop") {
		t.Fatalf("the report does not say where the full list is: %v", r.Metadata.Annotations)
	}
}

func TestReportFillsTheRoomFailuresLeaveWithPasses(t *testing.T) {
	r := reportOf([]reportObject{obj("Pod", "a", violation("BLF-A", "low", "deny")), obj("Pod", "b")}, 10, DefaultReportMaxBytes)
	var results []string
	for _, res := range r.Results {
		results = append(results, res.Result+" "+res.Policy+" "+res.Resources[0].Name)
	}
	want := "fail BLF-A a|pass BLF-B a|pass BLF-C a|pass BLF-A b|pass BLF-B b|pass BLF-C b"
	if got := strings.Join(results, "|"); got != want {
		t.Fatalf("results\n%s\nwant\n%s", got, want)
	}
	if r.Metadata.Annotations[AnnotationOmitted] != "0" {
		t.Fatalf("nothing should be omitted: %v", r.Metadata.Annotations)
	}
	if r.Results[0].Category != "images" || r.Results[0].Properties["controls"] != "CIS-1" || !r.Results[0].Scored {
		t.Fatalf("a failure carries category, controls and scored: %+v", r.Results[0])
	}
	if r.Results[1].Message != "B holds" {
		t.Fatalf("a pass says what holds: %+v", r.Results[1])
	}
}

func TestReportStaysWithinItsByteBudget(t *testing.T) {
	var objects []reportObject
	for i := range 200 {
		v := violation("BLF-A", "low", "deny")
		v.Message = strings.Repeat("x", 2000)
		objects = append(objects, obj("Pod", fmt.Sprintf("p%03d", i), v))
	}
	r := reportOf(objects, 1000, 64<<10)
	if len(r.Results) == 0 || len(r.Results) > 32 {
		t.Fatalf("listed %d results of 2 KB within 64 KB", len(r.Results))
	}
	if r.Summary.Fail != 200 {
		t.Fatalf("the summary counts %d failures, want all 200", r.Summary.Fail)
	}
}

func TestReportShowsErrorsExemptionsAndOwners(t *testing.T) {
	broken := obj("Pod", "broken")
	broken.errMsg = "input too deep"
	exempt := obj("Pod", "legacy")
	exempt.exempted = []policy.ExemptedViolation{{
		Violation: violation("BLF-B", "critical", "deny"),
		Exemption: config.Exemption{Policy: "BLF-B", Owner: "team-a", Reason: "migration", Expires: config.Date{Time: evaluatedAt}},
	}}
	owned := obj("Pod", "web-1", violation("BLF-C", "medium", "deny"))
	owned.owner, owned.covered = "Deployment/web", []string{"BLF-A"}
	r := reportOf([]reportObject{broken, exempt, owned}, 100, DefaultReportMaxBytes)
	if got, want := r.Summary, (ReportSummary{Fail: 1, Error: 1, Skip: 1, Pass: 2 + 1}); got != want {
		t.Fatalf("summary %+v, want %+v (the owned Pod's covered policy is neither pass nor fail)", got, want)
	}
	byResult := map[string]ReportResult{}
	for _, res := range r.Results {
		if _, ok := byResult[res.Result]; !ok {
			byResult[res.Result] = res
		}
	}
	if e := byResult["error"]; e.Resources[0].Name != "broken" || !strings.Contains(e.Message, "input too deep") {
		t.Fatalf("error result %+v", e)
	}
	if s := byResult["skip"]; s.Properties["exemptionOwner"] != "team-a" || s.Properties["exemptionExpires"] != "2026-03-01" {
		t.Fatalf("skip result %+v", s)
	}
	if f := byResult["fail"]; f.Properties["owner"] != "Deployment/web" {
		t.Fatalf("fail result of an owned Pod %+v", f)
	}
}

func TestClusterScopedObjectsGoToAClusterPolicyReport(t *testing.T) {
	r := buildReport(reportInput{name: "bailiff-audit", cluster: "prod", policies: testPolicies,
		applicable: func(string) []string { return nil }, maxResults: 10, maxBytes: DefaultReportMaxBytes})
	if r.Kind != ClusterReportKind || r.Metadata.Namespace != "" || r.APIVersion != "wgpolicyk8s.io/v1alpha2" {
		t.Fatalf("got %s %s in %q", r.APIVersion, r.Kind, r.Metadata.Namespace)
	}
}
