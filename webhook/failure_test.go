package webhook

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/store"
)

// TestEvaluationErrorsAnswerByFailurePolicy covers a policy that fails while it
// evaluates (TestFailurePolicies covers timeouts): the endpoint's failure policy
// answers, and the error is counted with reason evaluation.
func TestEvaluationErrorsAnswerByFailurePolicy(t *testing.T) {
	engine := engineWithTestPolicies(t, nil)
	conflicting := reviewOf(configMapRequest(labelledConfigMap("conflict", "yes")))
	tests := []struct {
		name     string
		opts     func(*Options)
		endpoint string
		body     string
		allowed  bool
		// text the denial message or, when allowed, a warning must contain
		text []string
		// patched: the answer carries a patch; errorsCounted: the evaluation errors counted
		patched       bool
		errorsCounted float64
	}{
		{"validation fails closed by default, saying why", nil, "validate", conflicting, false,
			[]string{"could not evaluate", "failure policy Fail", "test/conflict.rego", "conflicting values"}, false, 1},
		{"validation configured to fail open allows, with a warning", func(o *Options) { o.ValidateFailure = Ignore }, "validate", conflicting, true,
			[]string{"could not evaluate", "failure policy Ignore", "conflicting values"}, false, 1},
		{"mutation fails open by default, with no patch", nil, "mutate", conflicting, true,
			[]string{"could not evaluate its mutate policies", "failure policy Ignore", "conflicting values"}, false, 1},
		{"mutation configured to fail closed refuses", func(o *Options) { o.MutateFailure = Fail }, "mutate", conflicting, false,
			[]string{"could not evaluate", "failure policy Fail", "conflicting values"}, false, 1},
		// Without the error the same set patches: the patch above was lost to the error.
		{"a mutation the error does not touch patches", nil, "mutate",
			reviewOf(configMapRequest(labelledConfigMap("app", "shop"))), true, nil, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := handlerOn(engine, tt.opts)
			w, resp := post(t, endpoints[tt.endpoint](h), tt.body)
			if resp == nil {
				t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
			}
			if resp.Allowed != tt.allowed {
				t.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, tt.allowed, resp.Result)
			}
			said := strings.Join(resp.Warnings, "\n")
			if !resp.Allowed {
				if resp.Result == nil || resp.Result.Code != http.StatusInternalServerError {
					t.Fatalf("a refusal by failure policy must be an internal error: %+v", resp.Result)
				}
				said = resp.Result.Message
			}
			for _, want := range tt.text {
				if !strings.Contains(said, want) {
					t.Errorf("answer %q lacks %q", said, want)
				}
			}
			if patched := resp.Patch != nil || resp.PatchType != nil; patched != tt.patched {
				t.Errorf("patch %s, type %v; want a patch: %v", resp.Patch, resp.PatchType, tt.patched)
			}
			errors := samples(t, h.opts.Metrics, "bailiff_admission_errors_total")
			if got := errors[failedBecause(tt.endpoint, "evaluation")]; got != tt.errorsCounted || len(errors) > 1 {
				t.Errorf("errors = %v, want %v with reason evaluation", errors, tt.errorsCounted)
			}
		})
	}
}

// TestAuditViolationsAreAllowedSilentlyAndRecorded: a violation whose effective
// enforcement is audit neither refuses nor warns, but is counted and reaches the trail.
func TestAuditViolationsAreAllowedSilentlyAndRecorded(t *testing.T) {
	tests := []struct {
		name        string
		enforcement map[string]string // configuration overrides
		label       string            // the label that makes the policy find a violation
		policy      string
		want        string // the violation's effective enforcement
	}{
		{"a policy the configuration sets to audit", map[string]string{"TST-AUD-001": "audit"}, "audit-by-config", "TST-AUD-001", "audit"},
		{"a violation that sets its own enforcement to audit", nil, "audit-by-violation", "TST-AUD-002", "audit"},
		// The control: without the override, the first policy denies by its metadata.
		{"the same policy without the override denies", nil, "audit-by-config", "TST-AUD-001", "deny"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingEmitter{}
			h := handlerOn(engineWithTestPolicies(t, tt.enforcement), func(o *Options) { o.Auditor = NewTrailAuditor(rec, "replica-1") })
			_, resp := post(t, h.Validate(), reviewOf(configMapRequest(labelledConfigMap(tt.label, "yes"))))
			if resp == nil {
				t.Fatal("no AdmissionReview answered")
			}
			audited := tt.want == "audit"
			if resp.Allowed != audited {
				t.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, audited, resp.Result)
			}
			if audited && (len(resp.Warnings) != 0 || resp.Result != nil) {
				t.Errorf("an audited violation must not warn or explain a denial: warnings %v, result %+v", resp.Warnings, resp.Result)
			}
			if !audited && (resp.Result == nil || !strings.Contains(resp.Result.Message, "["+tt.policy+"]")) {
				t.Errorf("the denial must name %s: %+v", tt.policy, resp.Result)
			}
			violations := samples(t, h.opts.Metrics, "bailiff_policy_violations_total")
			if !onlySeries(violations, violated(tt.policy, tt.want)) {
				t.Errorf("bailiff_policy_violations_total = %v, want {%s} 1", violations, violated(tt.policy, tt.want))
			}
			decision := "allowed"
			if !audited {
				decision = "denied"
			}
			if got := samples(t, h.opts.Metrics, "bailiff_admission_requests_total"); got[answered("validate", "CREATE", "ConfigMap", decision)] != 1 {
				t.Errorf("bailiff_admission_requests_total = %v, want one %s", got, decision)
			}
			if err := h.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			events := rec.all()
			if len(events) != 1 {
				t.Fatalf("want one admission event, got %d", len(events))
			}
			e := events[0]
			if e.Decision != decision || !slices.ContainsFunc(e.Violations, func(v store.Violation) bool {
				return v.PolicyID == tt.policy && v.Enforcement == tt.want
			}) {
				t.Errorf("recorded decision %s with violations %+v; want %s with %s enforced by %s", e.Decision, e.Violations, decision, tt.policy, tt.want)
			}
		})
	}
}

// endpoints are the handler's endpoints by name.
var endpoints = map[string]func(*Handler) http.Handler{"validate": (*Handler).Validate, "mutate": (*Handler).Mutate}

// onlySeries reports whether series is the one series of samples, counted once.
func onlySeries(samples map[string]float64, series string) bool {
	return len(samples) == 1 && samples[series] == 1
}
