package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	kjson "sigs.k8s.io/json"
)

// FuzzMutate feeds arbitrary bodies to /mutate: never a panic; always 200 with an
// AdmissionReview, or 400 (413 past the size limit); and a patch answered applies to
// the object (one without metadata included) and, applied again to the result,
// changes nothing.
func FuzzMutate(f *testing.F) {
	for _, seed := range []string{
		review("CREATE", "shop", noResourcesPod, ""), review("CREATE", "shop", compliantPod, ""),
		review("UPDATE", "shop", noResourcesPod, compliantPod), review("DELETE", "shop", "", noResourcesPod),
		review("CREATE", "kube-system", noResourcesPod, ""),
		reviewOf(configMapRequest(labelledConfigMap("app", "shop"))),
		reviewOf(request{op: "CREATE", namespace: "shop", kind: "Deployment", group: "apps", version: "v1",
			object: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","annotations":{"a":"b"}},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx","resources":{"limits":{"cpu":"1"}}}],"initContainers":[{"name":"i","image":"busybox"}]}}}}`}),
		"", "{}", "null", "[]",
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Pod"},"object":{"spec":{"containers":[{"image":7}]}}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Pod"},"object":{"metadata":{},"spec":{"containers":[{"name":"a","image":"x","resources":null}]}}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Deployment"},"object":{"spec":{"template":null}}}}`,
	} {
		f.Add([]byte(seed))
	}
	h := handlerOn(engineWithTestPolicies(f, nil), nil)
	mutate := h.Mutate()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mutate.ServeHTTP(w, r)
		switch {
		case w.Code == http.StatusBadRequest:
			return
		case w.Code == http.StatusRequestEntityTooLarge && len(body) > MaxRequestBytes:
			return
		case w.Code != http.StatusOK:
			t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("200 without an AdmissionReview response: %s", w.Body.String())
		}
		resp := out.Response
		if !resp.Allowed || resp.Patch == nil {
			return
		}
		if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("patch of type %v", resp.PatchType)
		}
		// The object as the handler read it: field names case-sensitive, as the API
		// machinery decodes an AdmissionReview.
		var in admissionv1.AdmissionReview
		if err := kjson.UnmarshalCaseSensitivePreserveInts(body, &in); err != nil {
			t.Fatalf("the handler answered a body that does not decode: %v", err)
		}
		object := in.Request.Object.Raw
		patch, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("patch %s does not decode: %v", resp.Patch, err)
		}
		once, err := patch.Apply(object)
		if err != nil {
			t.Fatalf("patch %s does not apply to %s: %v", resp.Patch, object, err)
		}
		twice, err := patch.Apply(once)
		if err != nil {
			t.Fatalf("patch %s does not apply to the object it patched, %s: %v", resp.Patch, once, err)
		}
		if !jsonpatch.Equal(once, twice) {
			t.Fatalf("patch %s is not idempotent:\nonce:  %s\ntwice: %s", resp.Patch, once, twice)
		}
	})
}
