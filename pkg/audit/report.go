package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/store"
)

// PolicyReports in the shape of wgpolicyk8s.io/v1alpha2, so that report
// viewers made for Kyverno and others show Bailiff's results unchanged.
const (
	ReportAPIVersion        = "wgpolicyk8s.io/v1alpha2"
	ReportKind              = "PolicyReport"
	ClusterReportKind       = "ClusterPolicyReport"
	ReportSource            = "bailiff"
	AnnotationOmitted       = "bailiff.io/results-omitted"
	AnnotationFullResults   = "bailiff.io/full-results"
	AnnotationPolicySet     = "bailiff.io/policy-set-version"
	DefaultReportMaxResults = 1000
	// DefaultReportMaxBytes keeps a report well below etcd's 1.5 MiB request limit.
	DefaultReportMaxBytes = 1 << 20
)

// PolicyReport is a PolicyReport or ClusterPolicyReport.
type PolicyReport struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   ReportMetadata `json:"metadata"`
	Summary    ReportSummary  `json:"summary"`
	Results    []ReportResult `json:"results"`
}

// ReportMetadata is the report's object metadata.
type ReportMetadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ReportSummary counts every result, listed or not.
type ReportSummary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// ReportResult is one policy's result for one object.
type ReportResult struct {
	Source     string            `json:"source"`
	Policy     string            `json:"policy"`
	Rule       string            `json:"rule,omitempty"`
	Category   string            `json:"category,omitempty"`
	Severity   string            `json:"severity,omitempty"`
	Timestamp  ReportTimestamp   `json:"timestamp"`
	Result     string            `json:"result"`
	Scored     bool              `json:"scored,omitempty"`
	Resources  []ReportResource  `json:"resources"`
	Message    string            `json:"message,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
}

// ReportTimestamp is a protobuf Timestamp, as the schema has it.
type ReportTimestamp struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}

// ReportResource names the object a result is about.
type ReportResource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
}

// Results, in the order a capped report lists them: what needs fixing first.
const (
	resultFail  = "fail"
	resultWarn  = "warn"
	resultError = "error"
	resultSkip  = "skip"
	resultPass  = "pass"
)

var resultOrder = []string{resultFail, resultWarn, resultError, resultSkip, resultPass}

// reportObject is what a report needs of one object's state.
type reportObject struct {
	ref         store.ObjectRef
	owner       string
	violations  []policy.Violation
	exempted    []policy.ExemptedViolation
	covered     []string
	errMsg      string
	evaluatedAt time.Time
}

// reportInput is everything one report is built from.
type reportInput struct {
	name, namespace string // namespace "" for the ClusterPolicyReport
	cluster         string
	objects         []reportObject
	policies        map[string]policy.Metadata
	// applicable lists the validating policies that evaluate objects of a kind.
	applicable       func(kind string) []string
	policySetVersion string
	maxResults       int
	maxBytes         int
}

// buildReport builds one capped report: the summary counts every result;
// the list holds at most maxResults of them and about maxBytes, failures
// first by severity, then warnings, errors, exemptions and passes, and the
// annotations say how many were left out and where the full list is.
func buildReport(in reportInput) PolicyReport {
	r := PolicyReport{
		APIVersion: ReportAPIVersion,
		Kind:       ReportKind,
		Metadata: ReportMetadata{
			Name: in.name, Namespace: in.namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "bailiff"},
			Annotations: map[string]string{
				AnnotationPolicySet:   in.policySetVersion,
				AnnotationFullResults: fullResultsHint(in.cluster, in.namespace),
			},
		},
		Results: []ReportResult{},
	}
	if in.namespace == "" {
		r.Kind = ClusterReportKind
	}
	objects := slices.Clone(in.objects)
	slices.SortFunc(objects, func(a, b reportObject) int {
		return cmp.Or(strings.Compare(a.ref.Kind, b.ref.Kind), strings.Compare(a.ref.Name, b.ref.Name), strings.Compare(a.ref.UID, b.ref.UID))
	})
	// Everything but passes is listed in full before capping; passes, which
	// are most of the results of a healthy cluster, are only counted until
	// there is room for them.
	var listed []ReportResult
	for _, o := range objects {
		if o.errMsg != "" {
			r.Summary.Error++
			listed = append(listed, in.result(o, "", resultError, "", "evaluation failed: "+o.errMsg, nil))
			continue
		}
		for _, v := range o.violations {
			res := resultFail
			if v.Enforcement == policy.Warn {
				res = resultWarn
				r.Summary.Warn++
			} else {
				r.Summary.Fail++
			}
			listed = append(listed, in.result(o, v.Policy, res, v.Field, v.Message, map[string]string{"enforcement": v.Enforcement}))
		}
		for _, e := range o.exempted {
			r.Summary.Skip++
			listed = append(listed, in.result(o, e.Violation.Policy, resultSkip, e.Violation.Field, e.Violation.Message, map[string]string{
				"exemptionOwner": e.Exemption.Owner, "exemptionReason": e.Exemption.Reason, "exemptionExpires": exemptionExpiry(e),
			}))
		}
		r.Summary.Pass += len(passedPolicies(o, in.applicable))
	}
	slices.SortStableFunc(listed, func(a, b ReportResult) int {
		return cmp.Or(
			cmp.Compare(slices.Index(resultOrder, a.Result), slices.Index(resultOrder, b.Result)),
			cmp.Compare(policy.SeverityRank(a.Severity), policy.SeverityRank(b.Severity)),
		)
	})
	size := 0
	add := func(res ReportResult) bool {
		n := resultSize(res)
		if len(r.Results) >= in.maxResults || size+n > in.maxBytes {
			return false
		}
		size += n
		r.Results = append(r.Results, res)
		return true
	}
	for _, res := range listed {
		if !add(res) {
			break
		}
	}
	if len(r.Results) == len(listed) {
	passes:
		for _, o := range objects {
			if o.errMsg != "" {
				continue
			}
			for _, id := range passedPolicies(o, in.applicable) {
				title := in.policies[id].Title
				if !add(in.result(o, id, resultPass, "", title, nil)) {
					break passes
				}
			}
		}
	}
	total := r.Summary.Pass + r.Summary.Fail + r.Summary.Warn + r.Summary.Error + r.Summary.Skip
	r.Metadata.Annotations[AnnotationOmitted] = strconv.Itoa(total - len(r.Results))
	return r
}

// result builds one result line about o.
func (in reportInput) result(o reportObject, policyID, result, field, message string, props map[string]string) ReportResult {
	md := in.policies[policyID]
	res := ReportResult{
		Source:    ReportSource,
		Policy:    policyID,
		Rule:      field,
		Category:  category(md.Package),
		Severity:  md.Severity,
		Timestamp: ReportTimestamp{Seconds: o.evaluatedAt.Unix(), Nanos: int32(o.evaluatedAt.Nanosecond())},
		Result:    result,
		Scored:    result == resultFail,
		Resources: []ReportResource{{APIVersion: o.ref.APIVersion, Kind: o.ref.Kind, Namespace: o.ref.Namespace, Name: o.ref.Name, UID: o.ref.UID}},
		Message:   message,
	}
	if policyID == "" {
		res.Policy = "bailiff"
	}
	for k, v := range props {
		if v == "" {
			continue
		}
		if res.Properties == nil {
			res.Properties = map[string]string{}
		}
		res.Properties[k] = v
	}
	if len(md.Controls) > 0 && result != resultPass {
		res.setProperty("controls", strings.Join(md.Controls, ","))
	}
	if o.owner != "" {
		res.setProperty("owner", o.owner)
	}
	return res
}

func (r *ReportResult) setProperty(k, v string) {
	if r.Properties == nil {
		r.Properties = map[string]string{}
	}
	r.Properties[k] = v
}

// passedPolicies lists the policies that evaluate o's kind and that o
// neither violates, nor is exempted from, nor leaves to its owner.
func passedPolicies(o reportObject, applicable func(string) []string) []string {
	var out []string
	for _, id := range applicable(o.ref.Kind) {
		if slices.ContainsFunc(o.violations, func(v policy.Violation) bool { return v.Policy == id }) ||
			slices.ContainsFunc(o.exempted, func(e policy.ExemptedViolation) bool { return e.Violation.Policy == id }) ||
			slices.Contains(o.covered, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// category is a policy's family: "images" for bailiff.images.registry.
func category(pkg string) string {
	parts := strings.Split(pkg, ".")
	if len(parts) >= 3 {
		return parts[1]
	}
	return ""
}

func exemptionExpiry(e policy.ExemptedViolation) string {
	if e.Exemption.Expires.IsZero() {
		return ""
	}
	return e.Exemption.Expires.Format(time.DateOnly)
}

// resultSize estimates a result's encoded size.
func resultSize(r ReportResult) int {
	n := 300 + len(r.Policy) + len(r.Rule) + len(r.Message) + len(r.Category)
	for _, res := range r.Resources {
		n += len(res.APIVersion) + len(res.Kind) + len(res.Namespace) + len(res.Name) + len(res.UID)
	}
	for k, v := range r.Properties {
		n += len(k) + len(v) + 6
	}
	return n
}

// fullResultsHint says where the complete list of a report's results is.
func fullResultsHint(cluster, namespace string) string {
	q := "state=open&cluster=" + cluster
	if namespace != "" {
		q += "&namespace=" + namespace
	}
	return fmt.Sprintf("every finding is kept in Bailiff's store: GET /api/v1/findings?%s on bailiff server", q)
}
