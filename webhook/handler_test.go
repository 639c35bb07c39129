package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy"
)

type fakeCluster map[string]*input.Namespace

func (f fakeCluster) Namespace(name string) (*input.Namespace, bool) {
	ns, ok := f[name]
	return ns, ok
}

func (f fakeCluster) StorageClasses() map[string]map[string]any { return nil }

func testEngine(t testing.TB) *policy.Engine {
	t.Helper()
	cfg, err := config.Load("../test/demo/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.New(context.Background(), policy.Options{Config: cfg, SkipTests: true})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testHandler(t testing.TB, mutate func(*Options)) *Handler {
	t.Helper()
	return handlerOn(testEngine(t), mutate)
}

const compliantPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"ok","namespace":"shop"},"spec":{
"serviceAccountName":"app","automountServiceAccountToken":false,
"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"}},
"containers":[{"name":"app","image":"registry.example.com/app:1.0",
"resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"memory":"32Mi"}},
"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}`

const privilegedPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad","namespace":"shop"},"spec":{
"containers":[{"name":"app","image":"docker.io/library/redis:7","securityContext":{"privileged":true}}]}}`

const noResourcesPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nores","namespace":"shop"},"spec":{
"serviceAccountName":"app","automountServiceAccountToken":false,
"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"}},
"containers":[{"name":"app","image":"registry.example.com/app:1.0",
"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}`

func review(op, namespace, object, oldObject string) string {
	req := map[string]any{
		"uid": "uid-1", "operation": op, "namespace": namespace, "name": "x",
		"kind":     map[string]string{"group": "", "version": "v1", "kind": "Pod"},
		"userInfo": map[string]any{"username": "alice", "groups": []string{"dev"}},
	}
	if object != "" {
		req["object"] = json.RawMessage(object)
	}
	if oldObject != "" {
		req["oldObject"] = json.RawMessage(oldObject)
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
	return string(b)
}

func post(t testing.TB, h http.Handler, body string) (*httptest.ResponseRecorder, *admissionv1.AdmissionResponse) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		return w, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, w.Body.String())
	}
	return w, out.Response
}

func TestValidateDecisions(t *testing.T) {
	h := testHandler(t, nil)
	tests := []struct {
		name        string
		body        string
		allowed     bool
		message     []string
		warningFrom string
	}{
		{"a compliant pod is allowed", review("CREATE", "shop", compliantPod, ""), true, nil, ""},
		{"a privileged pod from Docker Hub is denied naming every policy", review("CREATE", "shop", privilegedPod, ""), false,
			[]string{"[BLF-IMG-001]", "[BLF-PSS-007]", "\n"}, ""},
		{"warn violations become warnings", review("CREATE", "shop", compliantPod, ""), true, nil, "[BLF-IMG-005]"},
		{"an exempt namespace is allowed without evaluation", review("CREATE", "kube-system", privilegedPod, ""), true, nil, ""},
		{"UPDATE evaluates the new object", review("UPDATE", "shop", privilegedPod, compliantPod), false, []string{"[BLF-PSS-007]"}, ""},
		{"UPDATE to a compliant object is allowed", review("UPDATE", "shop", compliantPod, privilegedPod), true, nil, ""},
		{"DELETE runs no policy that does not ask for it", review("DELETE", "shop", "", privilegedPod), true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, resp := post(t, h.Validate(), tt.body)
			if resp == nil {
				t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
			}
			if resp.UID != "uid-1" {
				t.Errorf("uid = %q", resp.UID)
			}
			if resp.Allowed != tt.allowed {
				t.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, tt.allowed, resp.Result)
			}
			for _, m := range tt.message {
				if resp.Result == nil || !strings.Contains(resp.Result.Message, m) {
					t.Errorf("message lacks %q: %+v", m, resp.Result)
				}
			}
			if !tt.allowed && resp.Result.Code != http.StatusForbidden {
				t.Errorf("code = %d", resp.Result.Code)
			}
			if tt.warningFrom != "" && !strings.HasPrefix(strings.Join(resp.Warnings, "|"), tt.warningFrom) {
				t.Errorf("warnings = %v", resp.Warnings)
			}
		})
	}
}

func TestMutateReturnsAnIdempotentJSONPatch(t *testing.T) {
	h := testHandler(t, nil)
	_, resp := post(t, h.Mutate(), review("CREATE", "shop", noResourcesPod, ""))
	if resp == nil || !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("response = %+v", resp)
	}
	var patches []policy.Patch
	if err := json.Unmarshal(resp.Patch, &patches); err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(noResourcesPod), &obj); err != nil {
		t.Fatal(err)
	}
	patched, err := policy.ApplyPatches(obj, patches)
	if err != nil {
		t.Fatal(err)
	}
	meta := patched["metadata"].(map[string]any)
	if got := meta["annotations"].(map[string]any)[MutatedByAnnotation]; got != "BLF-RES-003" {
		t.Errorf("%s = %v", MutatedByAnnotation, got)
	}
	b, _ := json.Marshal(patched)
	_, again := post(t, h.Mutate(), review("CREATE", "shop", string(b), ""))
	if again.Patch != nil {
		t.Errorf("mutating the mutated object must change nothing: %s", again.Patch)
	}
	_, validated := post(t, h.Validate(), review("CREATE", "shop", string(b), ""))
	if !validated.Allowed {
		t.Errorf("the mutated pod must pass validation: %+v", validated.Result)
	}
}

func TestBadRequestsGet400(t *testing.T) {
	h := testHandler(t, nil)
	tests := []struct {
		name, body, want string
		status           int
	}{
		{"not JSON", "garbage", "not an AdmissionReview", 400},
		{"empty body", "", "not an AdmissionReview", 400},
		{"wrong kind", `{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}`, "kind AdmissionReview", 400},
		{"v1beta1", `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1"}}`, "admission.k8s.io/v1", 400},
		{"no request", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "has no request", 400},
		{"no uid", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE","kind":{"kind":"Pod"}}}`, "no uid", 400},
		{"unknown operation", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"PATCH","kind":{"kind":"Pod"}}}`, "unknown operation", 400},
		{"object that does not decode", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Pod"},"object":[1,2]}}`, "decode object: expected an object, got array", 400},
		{"field of the wrong type", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Pod"},"userInfo":{"groups":["a",2]}}}`, "request.userInfo.groups of type string", 400},
		{"truncated JSON", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1"`, "not an AdmissionReview", 400},
		{"too large", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Pod"},"object":{"a":"` + strings.Repeat("x", MaxRequestBytes) + `"}}}`, "larger than 3 MiB", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := post(t, h.Validate(), tt.body)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("HTTP %d %q, want %d containing %q", w.Code, w.Body.String(), tt.status, tt.want)
			}
		})
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	h.Validate().ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d", w.Code)
	}
}

func TestFailurePolicies(t *testing.T) {
	timedOut := func(o *Options) { o.Timeout = time.Nanosecond }
	tests := []struct {
		name     string
		opts     func(*Options)
		endpoint func(*Handler) http.Handler
		allowed  bool
	}{
		{"validation fails closed by default", timedOut, (*Handler).Validate, false},
		{"mutation fails open by default", timedOut, (*Handler).Mutate, true},
		{"validation can be set to fail open", func(o *Options) { timedOut(o); o.ValidateFailure = Ignore }, (*Handler).Validate, true},
		{"mutation can be set to fail closed", func(o *Options) { timedOut(o); o.MutateFailure = Fail }, (*Handler).Mutate, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testHandler(t, tt.opts)
			_, resp := post(t, tt.endpoint(h), review("CREATE", "shop", compliantPod, ""))
			if resp == nil || resp.Allowed != tt.allowed {
				t.Fatalf("response = %+v", resp)
			}
			if !resp.Allowed && !strings.Contains(resp.Result.Message, "could not evaluate") {
				t.Errorf("message = %q", resp.Result.Message)
			}
			if got := counterValue(t, h.opts.Metrics, "bailiff_admission_errors_total"); got != 1 {
				t.Errorf("errors counted = %v", got)
			}
		})
	}
}

func counterValue(t testing.TB, m *Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, metric := range f.GetMetric() {
				total += metric.GetCounter().GetValue()
			}
		}
	}
	return total
}

func TestPanicsAreRecoveredAndCounted(t *testing.T) {
	h := testHandler(t, func(o *Options) {
		o.Images = func(context.Context, input.Request, []string) map[string]input.Image { panic("boom") }
	})
	w, _ := post(t, h.Validate(), review("CREATE", "shop", compliantPod, ""))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("HTTP %d", w.Code)
	}
	if counterValue(t, h.opts.Metrics, "bailiff_admission_errors_total") != 1 {
		t.Error("the panic must be counted")
	}
}

// FuzzValidate feeds arbitrary bodies to the decode path: never a panic, always 200
// with an AdmissionReview or a 4xx.
func FuzzValidate(f *testing.F) {
	for _, seed := range []string{
		review("CREATE", "shop", compliantPod, ""), review("UPDATE", "shop", privilegedPod, compliantPod),
		review("DELETE", "shop", "", compliantPod), "", "{}", "null", "[]",
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Pod"},"object":{"spec":{"containers":[{"image":7}]}}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Deployment"},"object":{"spec":{"template":null}}}}`,
	} {
		f.Add([]byte(seed))
	}
	h := testHandler(f, nil)
	validate := h.Validate()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		validate.ServeHTTP(w, r)
		switch {
		case w.Code == http.StatusOK:
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("200 without an AdmissionReview response: %s", w.Body.String())
			}
		case w.Code >= 400 && w.Code < 500:
		default:
			t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
		}
	})
}
