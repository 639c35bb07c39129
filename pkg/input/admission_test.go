package input

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"
)

const deploymentJSON = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop","uid":"u-1","labels":{"app":"web"}},
"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27","resources":{"limits":{"cpu":0.5,"memory":"1Gi"}}}]}}}}`

// admissionReviews are bodies the API server could send, and bodies it never would.
var admissionReviews = []string{
	`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"r-1","kind":{"group":"apps","version":"v1","kind":"Deployment"},
	 "resource":{"group":"apps","version":"v1","resource":"deployments"},"requestKind":{"group":"apps","version":"v1","kind":"Deployment"},
	 "requestResource":{"group":"apps","version":"v1","resource":"deployments"},"name":"web","namespace":"shop","operation":"CREATE",
	 "userInfo":{"username":"alice","uid":"a-1","groups":["dev","system:authenticated"],"extra":{"scopes":["x","y"],"empty":[]}},
	 "object":` + deploymentJSON + `,"oldObject":null,"dryRun":true,"options":{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}}}`,
	`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"r-2","kind":{"version":"v1","kind":"Pod"},"operation":"UPDATE",
	 "subResource":"status","object":{"kind":"Pod"},"oldObject":{"kind":"Pod","metadata":{"uid":"old"}},"dryRun":false}}`,
	`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"r-3","kind":{"kind":"Pod"},"operation":"DELETE","oldObject":{"kind":"Pod"}}}`,
	`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
	`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`,
	`{"request":{"uid":"dup","uid":"last wins","unknownField":{"deep":[1,2]}}}`,
	`{"request":{"uid":7}}`,
	`{"request":{"kind":"Pod"}}`,
	`{"request":{"userInfo":{"groups":"dev"}}}`,
	`{"request":{"userInfo":{"groups":["a",null]}}}`,
	`{"request":{"userInfo":{"extra":{"k":"v"}}}}`,
	`{"request":{"dryRun":"yes"}}`,
	`{"request":{"object":"not an object"}}`,
	`{"request":{"object":{"a":1}}} trailing`,
	`{"request":[]}`,
	`[]`, `null`, `"x"`, ``, `{`,
}

// machineryReference decodes as the API machinery does, and the objects as the webhook
// did before ValueFromJSON: into Go maps, then converted.
func machineryReference(body []byte) (review admissionv1.AdmissionReview, in Request, err error) {
	if err = kjson.UnmarshalCaseSensitivePreserveInts(body, &review); err != nil || review.Request == nil {
		return review, in, err
	}
	req := review.Request
	in = admissionRequest(req, nil, nil)
	for _, o := range []struct {
		raw []byte
		to  *ast.Value
	}{{req.Object.Raw, &in.Object}, {req.OldObject.Raw, &in.OldObject}} {
		if len(o.raw) == 0 {
			continue
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(o.raw))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return review, in, err
		}
		if obj != nil {
			if *o.to, err = ast.InterfaceToValue(obj); err != nil {
				return review, in, err
			}
		}
	}
	return review, in, nil
}

func TestDecodeAdmissionReviewAgreesWithTheAPIMachinery(t *testing.T) {
	for _, body := range admissionReviews {
		compareWithReference(t, []byte(body))
	}
}

func FuzzDecodeAdmissionReview(f *testing.F) {
	for _, body := range admissionReviews {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		compareWithReference(t, body)
	})
}

func compareWithReference(t *testing.T, body []byte) {
	t.Helper()
	got, err := DecodeAdmissionReview(body)
	want, wantIn, wantErr := machineryReference(body)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s:\n  error %v, API machinery's error %v", body, err, wantErr)
	}
	if err != nil {
		return
	}
	if got.APIVersion != want.APIVersion || got.Kind != want.Kind {
		t.Errorf("%s: envelope %q %q, want %q %q", body, got.APIVersion, got.Kind, want.APIVersion, want.Kind)
	}
	if (got.Request == nil) != (want.Request == nil) {
		t.Fatalf("%s: request %v, want %v", body, got.Request, want.Request)
	}
	if want.Request == nil {
		return
	}
	wantReq := *want.Request
	wantReq.Object, wantReq.OldObject = runtime.RawExtension{}, runtime.RawExtension{}
	if !reflect.DeepEqual(*got.Request, wantReq) {
		t.Errorf("%s:\n  request %+v\n  want    %+v", body, *got.Request, wantReq)
	}
	gotObjects, wantObjects := []ast.Value{got.Input.Object, got.Input.OldObject}, []ast.Value{wantIn.Object, wantIn.OldObject}
	for i := range gotObjects {
		if (gotObjects[i] == nil) != (wantObjects[i] == nil) || gotObjects[i] != nil && gotObjects[i].Compare(wantObjects[i]) != 0 {
			t.Errorf("%s: object %d = %v, want %v", body, i, gotObjects[i], wantObjects[i])
		}
	}
	gotIn, wantIn2 := got.Input, wantIn
	gotIn.Object, gotIn.OldObject, wantIn2.Object, wantIn2.OldObject = nil, nil, nil, nil
	if !reflect.DeepEqual(gotIn, wantIn2) {
		t.Errorf("%s:\n  input %+v\n  want  %+v", body, gotIn, wantIn2)
	}
}

func TestDecodeAdmissionReviewNamesTheBadField(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"request":{"uid":7}}`, "request.uid of type types.UID"},
		{`{"request":{"userInfo":{"extra":{"k":"v"}}}}`, "request.userInfo.extra of type v1.ExtraValue"},
		{`{"request":{"object":"x"}}`, "decode object: expected an object, got string"},
		{`{"request":{"oldObject":{"a":}}}`, "invalid character '}' looking for beginning of value"},
		{`[1]`, "cannot unmarshal array into Go value of type v1.AdmissionReview"},
	}
	for _, tt := range tests {
		_, err := DecodeAdmissionReview([]byte(tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.body, err, tt.want)
		}
	}
}

func BenchmarkDecodeAdmissionReview(b *testing.B) {
	body := []byte(admissionReviews[0])
	b.Run("objects-as-values", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeAdmissionReview(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("objects-as-maps-then-converted", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := machineryReference(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
