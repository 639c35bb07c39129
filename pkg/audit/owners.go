package audit

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/pkg/policy"
)

// How workload-owned objects are reported.
//
// A Deployment's pod template is copied into a ReplicaSet, and from there
// into each Pod; a CronJob's into each Job and its Pods. Evaluated alone,
// every copy reports the template's violations again: one bad Deployment
// with three replicas would be five findings. Bailiff reports each
// violation once, on the object people edit:
//
//   - A ReplicaSet controlled by a Deployment, or a Job controlled by a
//     CronJob, is not reported at all: it is the controller's template at
//     some revision, and an old revision kept for rollback is not something
//     to fix (its Deployment is).
//   - A Pod controlled by a workload is evaluated in full, but only the
//     violations its top controller (Deployment, StatefulSet, DaemonSet,
//     CronJob, bare ReplicaSet or Job, ...) does not have are reported
//     against the Pod, naming that controller as its owner. What other
//     admission controllers added to the Pod (an injected sidecar running
//     privileged) is reported; so is a Pod still running an old template
//     whose violation the controller has since fixed. Violations the
//     controller has but an exemption lets through are not reported
//     against its Pods either.
//
// Everything else, including Pods without a controller or with a
// controller the auditor does not watch (a custom resource), is reported in
// full.

// ownerMode says how an object's violations are reported.
type ownerMode int

const (
	reportAll        ownerMode = iota // no workload controller: everything
	reportNone                        // a template copy: nothing
	reportDifference                  // a Pod: what its top controller does not have
)

// templateCopies are the kinds whose objects a controller of the given kind
// creates from its own template.
var templateCopies = map[string]string{"ReplicaSet": "Deployment", "Job": "CronJob"}

// modeFor decides how an object of kind is reported, given the kind of its
// controller ("" for none) and whether that kind is watched.
func modeFor(kind, controllerKind string, watched bool) ownerMode {
	if controllerKind == "" || !watched || !slices.Contains(input.WorkloadKinds(), controllerKind) {
		return reportAll
	}
	if templateCopies[kind] == controllerKind {
		return reportNone
	}
	if kind == "Pod" {
		return reportDifference
	}
	return reportAll
}

// controllerOf returns the object's controlling owner reference, or nil.
func controllerOf(obj *unstructured.Unstructured) *metav1.OwnerReference {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.Controller != nil && *ref.Controller {
			return &ref
		}
	}
	return nil
}

// violationKey identifies a violation across an object and its copies: the
// policy and the message with the owner's pod-spec path rewritten as a Pod's
// (a Deployment's "spec.template.spec.containers" is a Pod's
// "spec.containers"), since messages may name the field.
func violationKey(kind, policyID, message string) string {
	if keys, ok := input.PodSpecKeys(kind); ok && len(keys) > 1 {
		message = strings.ReplaceAll(message, strings.Join(keys, ".")+".", "spec.")
	}
	return policyID + "\x00" + message
}

// ownerKeys is the set of violation keys of a controller: its violations and
// the ones its exemptions let through.
func ownerKeys(kind string, res *policy.Result) map[string]bool {
	keys := make(map[string]bool, len(res.Violations)+len(res.Exempted))
	for _, v := range res.Violations {
		keys[violationKey(kind, v.Policy, v.Message)] = true
	}
	for _, e := range res.Exempted {
		keys[violationKey(kind, e.Violation.Policy, e.Violation.Message)] = true
	}
	return keys
}

// difference splits a Pod's violations into those its controller does not
// have (reported) and the policies of those it does (covered).
func difference(vs []policy.Violation, owner map[string]bool) (reported []policy.Violation, covered []string) {
	for _, v := range vs {
		if owner[violationKey("Pod", v.Policy, v.Message)] {
			if !slices.Contains(covered, v.Policy) {
				covered = append(covered, v.Policy)
			}
			continue
		}
		reported = append(reported, v)
	}
	return reported, covered
}
