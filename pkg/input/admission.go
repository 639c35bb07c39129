package input

import (
	"bytes"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"
)

// ForAdmission builds input.request from an AdmissionReview request whose object and
// oldObject are raw JSON.
func ForAdmission(req *admissionv1.AdmissionRequest) (Request, error) {
	object, err := rawObject(req.Object.Raw)
	if err != nil {
		return Request{}, fmt.Errorf("decode object: %w", err)
	}
	oldObject, err := rawObject(req.OldObject.Raw)
	if err != nil {
		return Request{}, fmt.Errorf("decode oldObject: %w", err)
	}
	return admissionRequest(req, object, oldObject), nil
}

func admissionRequest(req *admissionv1.AdmissionRequest, object, oldObject ast.Value) Request {
	groups := req.UserInfo.Groups
	if groups == nil {
		groups = []string{}
	}
	extra := make(map[string][]string, len(req.UserInfo.Extra))
	for k, v := range req.UserInfo.Extra {
		extra[k] = v
	}
	return Request{
		UID:       string(req.UID),
		Operation: string(req.Operation),
		Kind:      GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind},
		Namespace: req.Namespace,
		Name:      req.Name,
		UserInfo:  UserInfo{Username: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: groups, Extra: extra},
		Object:    object,
		OldObject: oldObject,
		DryRun:    req.DryRun != nil && *req.DryRun,
	}
}

// rawObject decodes a raw object, keeping numbers exact. Empty or null means none.
func rawObject(raw []byte) (ast.Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	v, err := ValueFromJSON(raw)
	if err != nil {
		return nil, err
	}
	if _, ok := v.(ast.Object); !ok {
		return nil, fmt.Errorf("expected an object, got %s", ast.ValueName(v))
	}
	return v, nil
}

// AdmissionReview is a decoded AdmissionReview: its envelope and request as the API
// machinery decodes them, and the policy input's request built from it.
type AdmissionReview struct {
	APIVersion string
	Kind       string
	// Request is nil when the review has none. Its Object and OldObject are left
	// empty: the objects are decoded once, into Input.
	Request *admissionv1.AdmissionRequest
	Input   Request
}

// DecodeAdmissionReview decodes an AdmissionReview from JSON as the API machinery does
// (field names case-sensitive, unknown fields ignored), with the objects decoded
// once, straight into OPA's value form: a webhook's hot path never builds them as Go
// maps.
func DecodeAdmissionReview(body []byte) (*AdmissionReview, error) {
	var review admissionv1.AdmissionReview
	if err := kjson.UnmarshalCaseSensitivePreserveInts(body, &review); err != nil {
		return nil, err
	}
	out := &AdmissionReview{APIVersion: review.APIVersion, Kind: review.Kind, Request: review.Request}
	if review.Request == nil {
		return out, nil
	}
	in, err := ForAdmission(review.Request)
	if err != nil {
		return nil, err
	}
	out.Input = in
	review.Request.Object, review.Request.OldObject = runtime.RawExtension{}, runtime.RawExtension{}
	return out, nil
}
