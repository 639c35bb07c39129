package webhook

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/policy"
)

// Extra policies for the ConfigMaps of these tests, loaded beside the library. Each
// acts only on a ConfigMap carrying its label, so one set serves every case.
const (
	// conflictPolicy gives owner two values: an evaluation error, as a policy bug
	// would raise, for a ConfigMap labelled conflict.
	conflictPolicy = `# METADATA
# title: Owner is the name and the namespace
# scope: package
# custom:
#   id: TST-ERR-001
#   severity: low
#   enforcement: deny
#   kinds: [ConfigMap]
#   controls: []
package bailiff.test.conflict

owner = input.request.object.metadata.name if input.request.object.metadata.labels.conflict

owner = input.request.object.metadata.namespace if input.request.object.metadata.labels.conflict

violation contains {"msg": sprintf("owned by %s", [owner])} if owner
`
	// conflictPatchPolicy is conflictPolicy's error, in a mutating policy.
	conflictPatchPolicy = `# METADATA
# title: Annotates the owner, which is the name and the namespace
# scope: package
# custom:
#   id: TST-ERR-002
#   severity: low
#   enforcement: deny
#   kinds: [ConfigMap]
#   controls: []
#   mutates: true
package bailiff.test.conflictpatch

owner = input.request.object.metadata.name if input.request.object.metadata.labels.conflict

owner = input.request.object.metadata.namespace if input.request.object.metadata.labels.conflict

patch contains {"op": "add", "path": "/metadata/annotations", "value": {"owner": owner}} if owner
`
	// teamLabelPolicy patches every labelled ConfigMap without a team label, so a
	// mutation that errors has a patch to lose.
	teamLabelPolicy = `# METADATA
# title: Labels the team
# scope: package
# custom:
#   id: TST-LBL-001
#   severity: low
#   enforcement: deny
#   kinds: [ConfigMap]
#   controls: []
#   mutates: true
package bailiff.test.teamlabel

patch contains {"op": "add", "path": "/metadata/labels/team", "value": "unowned"} if {
	input.request.object.metadata.labels
	not input.request.object.metadata.labels.team
}
`
	// auditedPolicy denies by its metadata; the configuration may override it.
	auditedPolicy = `# METADATA
# title: Flags ConfigMaps for audit by configuration
# scope: package
# custom:
#   id: TST-AUD-001
#   severity: medium
#   enforcement: deny
#   kinds: [ConfigMap]
#   controls: []
package bailiff.test.audited

violation contains {"msg": "flagged for audit"} if input.request.object.metadata.labels["audit-by-config"]
`
	// selfAuditedPolicy denies by its metadata, but its violation says audit.
	selfAuditedPolicy = `# METADATA
# title: Flags ConfigMaps for audit by the violation
# scope: package
# custom:
#   id: TST-AUD-002
#   severity: medium
#   enforcement: deny
#   kinds: [ConfigMap]
#   controls: []
package bailiff.test.selfaudited

violation contains {"msg": "flagged for audit by the policy", "enforcement": "audit"} if input.request.object.metadata.labels["audit-by-violation"]
`
)

// engineWithTestPolicies is the demo configuration's engine with the test policies
// above, and enforcement overrides by policy id on top of the demo's.
func engineWithTestPolicies(t testing.TB, enforcement map[string]string) *policy.Engine {
	t.Helper()
	cfg, err := config.Load("../test/demo/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for id, e := range enforcement {
		if cfg.Enforcement == nil {
			cfg.Enforcement = map[string]string{}
		}
		cfg.Enforcement[id] = e
	}
	fsys := fstest.MapFS{}
	for name, src := range map[string]string{
		"test/conflict.rego":      conflictPolicy,
		"test/conflictpatch.rego": conflictPatchPolicy,
		"test/teamlabel.rego":     teamLabelPolicy,
		"test/audited.rego":       auditedPolicy,
		"test/selfaudited.rego":   selfAuditedPolicy,
	} {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	e, err := policy.New(context.Background(), policy.Options{
		Sources: []policy.Source{policy.Embedded(), {Name: "testdata", FS: fsys}},
		Config:  cfg, SkipTests: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// withTestPolicies makes a handler evaluate engineWithTestPolicies(enforcement).
func withTestPolicies(t testing.TB, enforcement map[string]string) func(*Options) {
	t.Helper()
	e := engineWithTestPolicies(t, enforcement)
	return func(o *Options) { o.Engine = e }
}

// labelledConfigMap is a ConfigMap in shop with the labels given as name, value pairs.
func labelledConfigMap(labels ...string) string {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "x", "namespace": "shop", "labels": l},
		"data":     map[string]string{"a": "b"},
	})
	return string(b)
}

func configMapRequest(object string) request {
	return request{op: "CREATE", namespace: "shop", kind: "ConfigMap", version: "v1", object: object}
}

// samples reads one metric family from m's registry: for each series, keyed by
// seriesKey of its labels, a counter's or gauge's value or a histogram's sample count.
// A series never touched is absent.
func samples(t testing.TB, m *Metrics, name string) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			var pairs []string
			for _, l := range metric.GetLabel() {
				pairs = append(pairs, l.GetName(), l.GetValue())
			}
			key := seriesKey(pairs...)
			switch {
			case metric.Counter != nil:
				out[key] = metric.GetCounter().GetValue()
			case metric.Gauge != nil:
				out[key] = metric.GetGauge().GetValue()
			case metric.Histogram != nil:
				out[key] = float64(metric.GetHistogram().GetSampleCount())
			default:
				t.Fatalf("%s: unexpected metric type %v", name, f.GetType())
			}
		}
	}
	return out
}

// seriesKey names a series by its labels, given as name, value pairs in any order:
// "decision=denied,endpoint=validate".
func seriesKey(pairs ...string) string {
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		parts = append(parts, pairs[i]+"="+pairs[i+1])
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// answered is the requests_total series of one answer.
func answered(endpoint, operation, kind, decision string) string {
	return seriesKey("endpoint", endpoint, "operation", operation, "kind", kind, "decision", decision)
}

// failedBecause is the errors_total series of one reason.
func failedBecause(endpoint, reason string) string {
	return seriesKey("endpoint", endpoint, "reason", reason)
}

// violated is the violations_total series of one policy and enforcement.
func violated(policyID, enforcement string) string {
	return seriesKey("policy", policyID, "enforcement", enforcement)
}

// onEndpoint is a histogram series of one endpoint.
func onEndpoint(endpoint string) string { return seriesKey("endpoint", endpoint) }

// handlerOn is testHandler's handler on an engine built once for many handlers:
// building the library's set is most of what testHandler costs.
func handlerOn(engine *policy.Engine, mutate func(*Options)) *Handler {
	opts := Options{
		Engine: engine,
		Cluster: fakeCluster{
			"customers": {Name: "customers", Labels: map[string]string{"bailiff.io/data-class": "personal"}},
		},
		ExemptNamespaces: []string{"kube-system"},
	}
	if mutate != nil {
		mutate(&opts)
	}
	return NewHandler(opts)
}
