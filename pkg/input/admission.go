package input

import (
	"bytes"
	"encoding/json"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
)

// ForAdmission builds input.request from an AdmissionReview request. The object and
// oldObject are decoded once, straight from the raw bytes the API server sent.
func ForAdmission(req *admissionv1.AdmissionRequest) (Request, error) {
	object, err := decodeRaw(req.Object.Raw)
	if err != nil {
		return Request{}, fmt.Errorf("decode object: %w", err)
	}
	oldObject, err := decodeRaw(req.OldObject.Raw)
	if err != nil {
		return Request{}, fmt.Errorf("decode oldObject: %w", err)
	}
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
	}, nil
}

// decodeRaw decodes a raw object, keeping numbers exact. Empty or null means no object.
func decodeRaw(raw []byte) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the object")
	}
	return obj, nil
}
