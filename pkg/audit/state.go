package audit

import (
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/store"
)

// objectKey names an object in the informer caches and the work queue.
type objectKey struct {
	gvk       schema.GroupVersionKind
	namespace string
	name      string
}

func (k objectKey) String() string {
	if k.namespace == "" {
		return k.gvk.Kind + " " + k.name
	}
	return k.gvk.Kind + " " + k.namespace + "/" + k.name
}

// objectState is what the auditor knows of one object: its last result,
// kept whole (every violation, never truncated) for the PolicyReports, and
// what it last handed to the sink.
type objectState struct {
	ref         store.ObjectRef
	owner       string             // "Deployment/api" for a Pod reported as its difference
	violations  []policy.Violation // reported ones, after owner dedupe
	exempted    []policy.ExemptedViolation
	covered     []string // policies whose violations its owner reports
	errMsg      string   // set when the last evaluation failed
	evaluatedAt time.Time
	setVersion  string
	evaluated   bool // false for an object known only from the sink's open findings

	queued   uint64    // fingerprint of the last result handed to the sink
	known    bool      // the sink may hold findings of it
	syncedAt time.Time // when a result of it last reached the sink
}

// fingerprint identifies a set of violations as the store would record it:
// what a finding is keyed by, and the severity and enforcement it carries.
func fingerprint(vs []store.Violation) uint64 {
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = strings.Join([]string{v.PolicyID, v.Field, v.Message, v.Severity, v.Enforcement}, "\x00")
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	h := fnv.New64a()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{0xff})
	}
	return h.Sum64() | 1 // never 0, which means "nothing handed over"
}

// storeViolations converts the engine's violations to the store's.
func storeViolations(vs []policy.Violation) []store.Violation {
	out := make([]store.Violation, len(vs))
	for i, v := range vs {
		out[i] = store.Violation{PolicyID: v.Policy, Severity: v.Severity, Enforcement: v.Enforcement, Message: v.Message, Field: v.Field}
	}
	return out
}

// findingViolations reads the violations of an object's open findings.
func findingViolations(fs []store.Finding) []store.Violation {
	out := make([]store.Violation, len(fs))
	for i, f := range fs {
		out[i] = f.Violation
	}
	return out
}
