package audit

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bailiff/bailiff/pkg/audit/results"
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
	syncedAt time.Time // when a result of it last reached the sink (or, with a disk queue, the queue)

	// Exemption uses (see exemptionUses) the sink has recorded: those of the
	// last result it took. A use is sent, and recorded in the trail, while it
	// is not among them.
	exemptionsDelivered map[string]bool
}

// exemptionUses groups exempted violations by the exemption excusing them, in
// the order first met, each with a key naming the exemption and the violations
// it excuses: a use whose key the sink has recorded is not sent again.
func exemptionUses(exempted []policy.ExemptedViolation) ([]results.ExemptionUse, []string) {
	var uses []results.ExemptionUse
	var ids []string
	for _, e := range exempted {
		ex := e.Exemption
		id := strings.Join([]string{ex.Policy, ex.Namespace, ex.Kind, ex.Name, ex.Owner, ex.Reason, ex.Expires.Format(time.DateOnly)}, "\x00")
		i := slices.Index(ids, id)
		if i < 0 {
			uses, ids = append(uses, results.ExemptionUse{Exemption: ex}), append(ids, id)
			i = len(uses) - 1
		}
		uses[i].Violations = append(uses[i].Violations, storeViolations([]policy.Violation{e.Violation})...)
	}
	keys := make([]string, len(uses))
	for i, u := range uses {
		keys[i] = fmt.Sprintf("%s\x00%x", ids[i], fingerprint(u.Violations))
	}
	return uses, keys
}

// newExemptionUses are the uses of st's current exemptions the sink has not
// recorded, and the keys of all of them.
func newExemptionUses(st *objectState) ([]results.ExemptionUse, []string) {
	uses, keys := exemptionUses(st.exempted)
	var fresh []results.ExemptionUse
	for i, u := range uses {
		if !st.exemptionsDelivered[keys[i]] {
			fresh = append(fresh, u)
		}
	}
	return fresh, keys
}

// sendFingerprint identifies what a result tells the sink: its violations and
// the exemption uses excusing others.
func sendFingerprint(vs []store.Violation, exempted []policy.ExemptedViolation) uint64 {
	_, keys := exemptionUses(exempted)
	all := slices.Clone(vs)
	for _, k := range keys {
		all = append(all, store.Violation{PolicyID: "exemption\x00" + k})
	}
	return fingerprint(all)
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
