package results

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ref(uid string) store.ObjectRef {
	return store.ObjectRef{UID: uid, APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web-" + uid}
}

func result(uid string, at time.Time, policies ...string) ObjectResult {
	r := ObjectResult{Object: ref(uid), EvaluatedAt: at, PolicySetVersion: "v1", Violations: []store.Violation{}}
	for _, p := range policies {
		r.Violations = append(r.Violations, store.Violation{PolicyID: p, Severity: "high", Enforcement: "deny", Message: p + " is violated"})
	}
	return r
}

func TestValidate(t *testing.T) {
	good := Request{Cluster: "prod", Results: []ObjectResult{result("a", now, "BLF-A")}, Deletions: []Deletion{{Object: ref("b"), DeletedAt: now}}}
	tests := []struct {
		name   string
		change func(r *Request)
		want   string
	}{
		{"a good batch passes", func(*Request) {}, ""},
		{"a reserved cluster name is refused", func(r *Request) { r.Cluster = "_server" }, "reserved"},
		{"an empty batch is refused", func(r *Request) { r.Results, r.Deletions = nil, nil }, "no results and no deletions"},
		{"an object of another cluster is refused", func(r *Request) { r.Results[0].Object.Cluster = "staging" }, `results[0]: object cluster "staging"`},
		{"an object without uid is refused", func(r *Request) { r.Results[0].Object.UID = "" }, "uid is missing"},
		{"an object without kind is refused", func(r *Request) { r.Deletions[0].Object.Kind = "" }, "deletions[0]: object apiVersion, kind and name are required"},
		{"an object twice is refused", func(r *Request) { r.Results = append(r.Results, r.Results[0]) }, `results[1]: uid "a" is also the uid of results[0]`},
		{"a result without time is refused", func(r *Request) { r.Results[0].EvaluatedAt = time.Time{} }, "evaluatedAt is missing"},
		{"a result from the future is refused", func(r *Request) { r.Results[0].EvaluatedAt = now.Add(time.Hour) }, "ahead of the server's clock"},
		{"a violation without policy is refused", func(r *Request) { r.Results[0].Violations[0].PolicyID = "" }, "results[0].violations[0]: policyId is missing"},
		{"an unknown severity is refused", func(r *Request) { r.Results[0].Violations[0].Severity = "urgent" }, `severity "urgent"`},
		{"an exemption use passes", func(r *Request) { r.Results[0].Exemptions = []ExemptionUse{use("BLF-C")} }, ""},
		{"an exemption without policy is refused", func(r *Request) {
			u := use("BLF-C")
			u.Exemption.Policy = ""
			r.Results[0].Exemptions = []ExemptionUse{u}
		}, "results[0].exemptions[0]: exemption policy is missing"},
		{"an exemption use excusing nothing is refused", func(r *Request) {
			u := use("BLF-C")
			u.Violations = nil
			r.Results[0].Exemptions = []ExemptionUse{u}
		}, "names the violations it excuses"},
		{"an exemption's bad violation is refused", func(r *Request) {
			u := use("BLF-C")
			u.Violations[0].Message = ""
			r.Results[0].Exemptions = []ExemptionUse{u}
		}, "results[0].exemptions[0]: violations[0]: message is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := json.Marshal(good)
			var req Request
			json.Unmarshal(raw, &req)
			tt.change(&req)
			err := Validate(req, now)
			if tt.want == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// use is an exemption of policy excusing one violation of it.
func use(policy string) ExemptionUse {
	return ExemptionUse{
		Exemption: config.Exemption{Policy: policy, Namespace: "shop", Owner: "team-a", Reason: "migration",
			Expires: config.Date{Time: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)}},
		Violations: []store.Violation{{PolicyID: policy, Severity: "medium", Enforcement: "deny", Message: policy + " is violated"}},
	}
}

func TestApplyRecordsEachExemptionUseOnce(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := result("a", now, "BLF-A")
	r.Exemptions = []ExemptionUse{use("BLF-C")}
	req := Request{Cluster: "prod", Results: []ObjectResult{r}}
	for range 2 { // the second time as an auditor whose answer was lost sends it again
		if _, err := Apply(ctx, st, req); err != nil {
			t.Fatal(err)
		}
	}
	page, err := st.Events(ctx, store.EventQuery{Cluster: "prod", Source: trail.SourceExemption, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 {
		t.Fatalf("want one exemption event however often the batch arrives, got %d", len(page.Events))
	}
	e := page.Events[0]
	var d map[string]any
	if err := json.Unmarshal(e.Details, &d); err != nil {
		t.Fatal(err)
	}
	if e.Decision != DecisionUsed || e.Name != "web-a" || e.UID != "a" || len(e.Violations) != 1 || e.Violations[0].PolicyID != "BLF-C" ||
		d["mode"] != "audit" || d["policy"] != "BLF-C" || d["owner"] != "team-a" || d["reason"] != "migration" || d["expires"] != "2027-01-31" {
		t.Fatalf("exemption event %+v with details %v", e, d)
	}
	if scope, _ := d["scope"].(map[string]any); scope["namespace"] != "shop" {
		t.Errorf("scope = %v, want the exemption's namespace", d["scope"])
	}
	if res, err := trail.Verify(ctx, st, "prod", trail.Range{}); err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "bailiff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func auditEvents(t *testing.T, st store.Store) []store.Event {
	t.Helper()
	page, err := st.Events(context.Background(), store.EventQuery{Cluster: "prod", Source: trail.SourceAudit, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return page.Events
}

func TestApplyOpensResolvesAndForgetsWithTrailEvents(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	resp, err := Apply(ctx, st, Request{Cluster: "prod", Results: []ObjectResult{result("a", now, "BLF-A", "BLF-B"), result("b", now)}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Opened != 2 || resp.Events != 1 {
		t.Fatalf("first batch %+v: want 2 findings opened in one event", resp)
	}
	resp, err = Apply(ctx, st, Request{Cluster: "prod",
		Results:   []ObjectResult{result("a", now.Add(time.Minute), "BLF-B"), result("b", now.Add(time.Minute))},
		Deletions: []Deletion{{Object: ref("b"), DeletedAt: now.Add(2 * time.Minute)}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Resolved != 1 || resp.Events != 1 {
		t.Fatalf("second batch %+v: want BLF-A resolved in one event (b never had findings)", resp)
	}
	_, err = Apply(ctx, st, Request{Cluster: "prod", Deletions: []Deletion{{Object: ref("a"), DeletedAt: now.Add(3 * time.Minute)}}})
	if err != nil {
		t.Fatal(err)
	}
	events := auditEvents(t, st)
	var got []string
	for _, e := range events {
		var d struct {
			Findings []string `json:"findings"`
			Reason   string   `json:"reason"`
		}
		json.Unmarshal(e.Details, &d)
		line := e.Decision + " " + e.Name
		for _, v := range e.Violations {
			line += " " + v.PolicyID
		}
		if d.Reason != "" {
			line += " (" + d.Reason + ")"
		}
		if len(d.Findings) != len(e.Violations) {
			t.Errorf("event %s names %d findings for %d violations", e.ID, len(d.Findings), len(e.Violations))
		}
		got = append(got, line)
	}
	want := "opened web-a BLF-A BLF-B|resolved web-a BLF-A|resolved web-a BLF-B (deleted)"
	if strings.Join(got, "|") != want {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	if res, err := trail.Verify(ctx, st, "prod", trail.Range{}); err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
	open, err := st.Findings(ctx, store.FindingQuery{Cluster: "prod", State: "open"})
	if err != nil || len(open.Findings) != 0 {
		t.Fatalf("open findings %+v, %v", open.Findings, err)
	}
}
