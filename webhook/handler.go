// Package webhook serves Bailiff's admission endpoints: /mutate and /validate answer
// AdmissionReview v1 requests by evaluating the policy engine, with health, readiness
// and metrics endpoints, TLS from reloadable certificate files, and hot reload of
// policies and configuration.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy"
)

// MaxRequestBytes bounds an AdmissionReview body, as the API server bounds requests.
const MaxRequestBytes = 3 << 20

// FailurePolicy says what the webhook answers when policies cannot be evaluated.
type FailurePolicy string

// Failure policies, named as in the webhook configurations.
const (
	Fail   FailurePolicy = "Fail"   // refuse the request: nothing unchecked gets in
	Ignore FailurePolicy = "Ignore" // allow it unchanged: admission keeps working
)

// ClusterContext is what policies may know of the cluster, from caches: the webhook
// never calls the API server per request.
type ClusterContext interface {
	Namespace(name string) (*input.Namespace, bool)
	// StorageClasses by name, as objects; asked only for PersistentVolumeClaims.
	StorageClasses() map[string]map[string]any
}

// ImageLookup fills input.context.images for the image references of a request.
type ImageLookup func(ctx context.Context, req input.Request, refs []string) map[string]input.Image

// UnscannedWithoutScanner describes images when no scanner is configured.
func UnscannedWithoutScanner(_ context.Context, _ input.Request, refs []string) map[string]input.Image {
	return images.DescribeAll(refs, images.NoScannerReason)
}

// Options configure a Handler.
type Options struct {
	Engine           *policy.Engine
	Cluster          ClusterContext // nil: no namespace or storage class context
	Images           ImageLookup    // nil: UnscannedWithoutScanner
	ExemptNamespaces []string       // allowed without evaluation
	ValidateFailure  FailurePolicy  // default Fail
	MutateFailure    FailurePolicy  // default Ignore
	Timeout          time.Duration  // evaluation budget per request; default 3s
	// Auditor receives every decision, off the request path; nil records nothing.
	Auditor Auditor
	// AuditQueue is how many decisions may wait for the Auditor; more are dropped
	// and counted. Default 4096.
	AuditQueue int
	Metrics    *Metrics
	Logger     *slog.Logger
}

// Handler answers AdmissionReview requests.
type Handler struct {
	opts     Options
	recorder *recorder // nil without an Auditor
}

// NewHandler returns a handler with defaults filled in.
func NewHandler(opts Options) *Handler {
	if opts.Images == nil {
		opts.Images = UnscannedWithoutScanner
	}
	if opts.ValidateFailure == "" {
		opts.ValidateFailure = Fail
	}
	if opts.MutateFailure == "" {
		opts.MutateFailure = Ignore
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AuditQueue <= 0 {
		opts.AuditQueue = defaultAuditQueue
	}
	h := &Handler{opts: opts}
	if opts.Auditor != nil {
		h.recorder = newRecorder(opts.Auditor, opts.AuditQueue, opts.Metrics, opts.Logger)
	}
	return h
}

// Close hands the decisions still queued to the Auditor, waiting until ctx ends at
// most. Call it once the server has stopped answering; later decisions are dropped.
func (h *Handler) Close(ctx context.Context) error {
	if h.recorder == nil {
		return nil
	}
	return h.recorder.close(ctx)
}

// Validate is the /validate endpoint.
func (h *Handler) Validate() http.Handler {
	return h.endpoint("validate", h.validate)
}

// Mutate is the /mutate endpoint.
func (h *Handler) Mutate() http.Handler {
	return h.endpoint("mutate", h.mutate)
}

// decision is one answer with the label metrics record it under, and what the trail
// records of how it was reached.
type decision struct {
	response *admissionv1.AdmissionResponse
	label    string // allowed, denied, warned, mutated, exempt, error

	violations         []policy.Violation
	exemptedViolations []policy.ExemptedViolation
	exemptedMutations  []policy.ExemptedMutation
	version            string // the policy set that decided; "" when none did
	err                error  // why the failure policy answered
	failurePolicy      FailurePolicy
}

// badRequest is an error the caller made: answered with HTTP 400.
type badRequest struct{ err error }

func (e badRequest) Error() string { return e.err.Error() }

type decideFunc func(ctx context.Context, req *admissionv1.AdmissionRequest, in input.Request) (decision, error)

// endpoint wraps a decision function with decoding, limits, recovery and metrics.
func (h *Handler) endpoint(name string, decide decideFunc) http.Handler {
	m := h.opts.Metrics
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		defer func() {
			m.inFlight.Dec()
			m.requestTime.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		defer func() {
			if p := recover(); p != nil {
				m.errors.WithLabelValues(name, "panic").Inc()
				h.opts.Logger.Error("panic answering admission request", "endpoint", name, "panic", fmt.Sprint(p))
				http.Error(w, "internal error evaluating the request", http.StatusInternalServerError)
			}
		}()
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "admission endpoints accept POST only", http.StatusMethodNotAllowed)
			return
		}
		review, err := readReview(w, r)
		if err != nil {
			reason := "bad_request"
			status := http.StatusBadRequest
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				reason, status = "too_large", http.StatusRequestEntityTooLarge
				err = fmt.Errorf("request body is larger than %d MiB", MaxRequestBytes>>20)
			}
			m.errors.WithLabelValues(name, reason).Inc()
			http.Error(w, err.Error(), status)
			return
		}
		req, in := review.Request, review.Input
		d, err := decide(r.Context(), req, in)
		if err != nil {
			var bad badRequest
			if errors.As(err, &bad) {
				m.errors.WithLabelValues(name, "bad_request").Inc()
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			d = h.failed(name, req, err)
		}
		d.response.UID = req.UID
		m.requests.WithLabelValues(name, string(req.Operation), req.Kind.Kind, d.label).Inc()
		writeReview(w, d.response)
		if h.recorder != nil {
			h.recorder.record(h.auditDecision(name, req, in, d))
		}
	})
}

// auditDecision gathers what the trail records of an answer. It copies references
// only: encoding happens in the Auditor, off the request path.
func (h *Handler) auditDecision(endpoint string, req *admissionv1.AdmissionRequest, in input.Request, d decision) Decision {
	outcome := DecisionAllowed
	switch {
	case !d.response.Allowed:
		outcome = DecisionDenied
	case d.label == "warned":
		outcome = DecisionWarned
	}
	version := d.version
	if version == "" {
		version = h.opts.Engine.Set().Version()
	}
	apiVersion := req.Kind.Version
	if req.Kind.Group != "" {
		apiVersion = req.Kind.Group + "/" + req.Kind.Version
	}
	return Decision{
		Time:     time.Now(),
		Endpoint: endpoint,

		RequestUID:  string(req.UID),
		ObjectUID:   objectUID(in),
		User:        req.UserInfo.Username,
		Groups:      req.UserInfo.Groups,
		Operation:   string(req.Operation),
		APIVersion:  apiVersion,
		Kind:        req.Kind.Kind,
		SubResource: req.SubResource,
		Namespace:   req.Namespace,
		Name:        req.Name,
		DryRun:      in.DryRun,

		Outcome:            outcome,
		Violations:         d.violations,
		ExemptedViolations: d.exemptedViolations,
		ExemptedMutations:  d.exemptedMutations,
		Patch:              d.response.Patch,
		PolicySetVersion:   version,
		ExemptNamespace:    d.label == "exempt",
		Err:                d.err,
		FailurePolicy:      d.failurePolicy,
	}
}

// objectUID is the metadata.uid of the request's object, or of the old object
// when there is no new one (DELETE). An object being created has none yet when
// /mutate sees it.
func objectUID(in input.Request) string {
	if uid := input.LookupString(in.Object, "metadata", "uid"); uid != "" {
		return uid
	}
	return input.LookupString(in.OldObject, "metadata", "uid")
}

// readReview decodes an AdmissionReview v1 with a request in it, the objects straight
// into the policy input's form.
func readReview(w http.ResponseWriter, r *http.Request) (*input.AdmissionReview, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("content type %q is not application/json", ct)
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	review, err := input.DecodeAdmissionReview(body)
	if err != nil {
		return nil, fmt.Errorf("request body is not an AdmissionReview: %v", err)
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("expected apiVersion %s and kind AdmissionReview, got %q and %q", admissionv1.SchemeGroupVersion, review.APIVersion, review.Kind)
	}
	req := review.Request
	if req == nil {
		return nil, errors.New("AdmissionReview has no request")
	}
	if req.UID == "" {
		return nil, errors.New("AdmissionReview request has no uid")
	}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
	default:
		return nil, fmt.Errorf("unknown operation %q: expected CREATE, UPDATE, DELETE or CONNECT", req.Operation)
	}
	if req.Kind.Kind == "" {
		return nil, errors.New("AdmissionReview request has no kind")
	}
	return review, nil
}

// readBody reads a request body of at most MaxRequestBytes, in one allocation when the
// client said how long it is.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	if n := r.ContentLength; n > 0 && n <= MaxRequestBytes {
		buf := make([]byte, n)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(body)
}

func writeReview(w http.ResponseWriter, resp *admissionv1.AdmissionResponse) {
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review) // the client went away if this fails
}

// policyInput gathers the context of a request and builds the policy input, with the
// cluster's name and region from set's configuration.
func (h *Handler) policyInput(ctx context.Context, set *policy.Set, in input.Request) (*input.Input, error) {
	cluster := set.Config().Cluster
	c := input.Context{
		Mode:    input.ModeAdmission,
		Cluster: input.Cluster{Name: cluster.Name, Region: cluster.Region, Labels: cluster.Labels},
	}
	if h.opts.Cluster != nil {
		if in.Namespace != "" {
			if ns, ok := h.opts.Cluster.Namespace(in.Namespace); ok {
				c.Namespace = ns
			}
		}
		if in.Kind.Kind == "PersistentVolumeClaim" {
			c.StorageClasses = h.opts.Cluster.StorageClasses()
		}
	}
	if refs := input.ContainerImages(in.Object, in.Kind.Kind); len(refs) > 0 {
		c.Images = h.opts.Images(ctx, in, refs)
	}
	return input.New(in, c)
}

func (h *Handler) exempt(namespace string) bool {
	return namespace != "" && slices.Contains(h.opts.ExemptNamespaces, namespace)
}

// evaluate gathers the request's context and runs eval within the evaluation budget,
// timing it. The input is built from, and evaluated with, one policy set: a reload
// meanwhile cannot mix one set's configuration with another's policies.
func (h *Handler) evaluate(ctx context.Context, endpoint string, in input.Request, eval func(context.Context, *policy.Set, *input.Input) error) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	set := h.opts.Engine.Set()
	pin, err := h.policyInput(ctx, set, in)
	if err != nil {
		return badRequest{err}
	}
	start := time.Now()
	err = eval(ctx, set, pin)
	h.opts.Metrics.evaluationTime.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	return err
}

func (h *Handler) validate(ctx context.Context, req *admissionv1.AdmissionRequest, in input.Request) (decision, error) {
	if h.exempt(req.Namespace) {
		return decision{response: allowed(), label: "exempt"}, nil
	}
	var res *policy.Result
	err := h.evaluate(ctx, "validate", in, func(ctx context.Context, set *policy.Set, pin *input.Input) (err error) {
		res, err = h.opts.Engine.EvaluateWith(ctx, set, pin)
		return err
	})
	if err != nil {
		return decision{}, err
	}
	for _, v := range res.Violations {
		h.opts.Metrics.violations.WithLabelValues(v.Policy, v.Enforcement).Inc()
	}
	found := decision{violations: res.Violations, exemptedViolations: res.Exempted, version: res.PolicySetVersion}
	resp := allowed()
	for _, v := range res.ByEnforcement(policy.Warn) {
		resp.Warnings = append(resp.Warnings, v.String())
	}
	if denials := res.ByEnforcement(policy.Deny); len(denials) > 0 {
		lines := make([]string, len(denials))
		for i, v := range denials {
			lines[i] = v.String()
		}
		resp.Allowed = false
		resp.Result = &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: strings.Join(lines, "\n"),
		}
		return found.answer(resp, "denied"), nil
	}
	if len(resp.Warnings) > 0 {
		return found.answer(resp, "warned"), nil
	}
	return found.answer(resp, "allowed"), nil
}

// answer is d with its response and metrics label.
func (d decision) answer(resp *admissionv1.AdmissionResponse, label string) decision {
	d.response, d.label = resp, label
	return d
}

func (h *Handler) mutate(ctx context.Context, req *admissionv1.AdmissionRequest, in input.Request) (decision, error) {
	if h.exempt(req.Namespace) {
		return decision{response: allowed(), label: "exempt"}, nil
	}
	var m *policy.Mutation
	err := h.evaluate(ctx, "mutate", in, func(ctx context.Context, set *policy.Set, pin *input.Input) (err error) {
		m, err = h.opts.Engine.MutateWith(ctx, set, pin)
		return err
	})
	if err != nil {
		return decision{}, err
	}
	found := decision{exemptedMutations: m.Exempted, version: m.PolicySetVersion}
	resp := allowed()
	if len(m.Patches) == 0 {
		return found.answer(resp, "allowed"), nil
	}
	patch, err := policy.JSONPatch(append(m.Patches, mutatedByPatch(in.Object, m.Patches)))
	if err != nil {
		return decision{}, err
	}
	jsonPatch := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &jsonPatch
	return found.answer(resp, "mutated"), nil
}

// MutatedByAnnotation records on an object which policies changed it at admission, so
// anyone reading the object can see why it differs from its manifest.
const MutatedByAnnotation = "bailiff.io/mutated-by"

// mutatedByPatch sets MutatedByAnnotation to the ids of the policies that patched.
func mutatedByPatch(obj ast.Value, patches []policy.Patch) policy.Patch {
	var ids []string
	for _, p := range patches {
		if !slices.Contains(ids, p.Policy) {
			ids = append(ids, p.Policy)
		}
	}
	value := strings.Join(ids, ",")
	addsMetadata := slices.ContainsFunc(patches, func(p policy.Patch) bool { return p.Path == "/metadata" })
	if _, ok := input.Lookup(obj, "metadata").(ast.Object); !ok && !addsMetadata {
		// The API server always sends metadata, but an object without it must still
		// get a patch that applies.
		return policy.Patch{Op: "add", Path: "/metadata", Value: map[string]any{"annotations": map[string]any{MutatedByAnnotation: value}}}
	}
	if _, ok := input.Lookup(obj, "metadata", "annotations").(ast.Object); !ok {
		return policy.Patch{Op: "add", Path: "/metadata/annotations", Value: map[string]any{MutatedByAnnotation: value}}
	}
	return policy.Patch{Op: "add", Path: "/metadata/annotations/" + strings.ReplaceAll(MutatedByAnnotation, "/", "~1"), Value: value}
}

// failed answers a request whose policies could not be evaluated, by the endpoint's
// failure policy.
func (h *Handler) failed(endpoint string, req *admissionv1.AdmissionRequest, err error) decision {
	reason := "evaluation"
	if errors.Is(err, context.DeadlineExceeded) {
		reason = "timeout"
	}
	h.opts.Metrics.errors.WithLabelValues(endpoint, reason).Inc()
	failure := h.opts.ValidateFailure
	if endpoint == "mutate" {
		failure = h.opts.MutateFailure
	}
	h.opts.Logger.Error("policies could not be evaluated", "endpoint", endpoint, "uid", req.UID,
		"kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "failurePolicy", failure, "error", err)
	failed := decision{label: "error", err: err, failurePolicy: failure}
	if failure == Ignore {
		resp := allowed()
		resp.Warnings = []string{fmt.Sprintf("Bailiff could not evaluate its %s policies (%v); allowed unchecked by failure policy Ignore", endpoint, err)}
		failed.response = resp
		return failed
	}
	failed.response = &admissionv1.AdmissionResponse{
		Allowed: false,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusInternalServerError,
			Reason:  metav1.StatusReasonInternalError,
			Message: fmt.Sprintf("Bailiff could not evaluate its policies, so the request is refused (failure policy Fail): %v", err),
		},
	}
	return failed
}

func allowed() *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: true}
}
