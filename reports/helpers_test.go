package reports

import (
	"context"
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
)

// t0 is the fixed clock of the deterministic tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// memSource is a Source held in memory, for deterministic reports.
type memSource struct {
	clusters   map[string]*memCluster
	admissions map[string]Admissions
}

type memCluster struct {
	findings  []Finding
	trail     TrailRange
	inventory Inventory
}

var _ Source = (*memSource)(nil)

func (m *memSource) Clusters(context.Context) ([]string, error) {
	var out []string
	for c := range m.clusters {
		out = append(out, c)
	}
	slices.Sort(out)
	return out, nil
}

func (m *memSource) HasCluster(_ context.Context, c string) (bool, error) {
	_, ok := m.clusters[c]
	return ok, nil
}

func (m *memSource) OpenFindings(_ context.Context, c string, p Period) ([]Finding, error) {
	var out []Finding
	for _, f := range m.clusters[c].findings {
		if f.FirstSeen.Before(p.To) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (m *memSource) Trail(_ context.Context, c string, _ Period) (TrailSummary, error) {
	return TrailSummary{Range: m.clusters[c].trail, Admissions: m.admissions[c]}, nil
}

func (m *memSource) Inventory(_ context.Context, c string, _ time.Time) (Inventory, error) {
	return m.clusters[c].inventory, nil
}

// finding is an open finding of a policy on a resource, first seen minutes before t0.
func finding(id, policy, kind, ns, name string, minutesAgo int, seq int64) Finding {
	return Finding{
		Finding: store.Finding{
			ID:        id,
			ObjectRef: store.ObjectRef{Cluster: "prod-eu", UID: "uid-" + name, APIVersion: apiVersion(kind), Kind: kind, Namespace: ns, Name: name},
			Violation: store.Violation{PolicyID: policy, Severity: "high", Enforcement: "deny", Message: "violates " + policy, Field: "spec"},
			FirstSeen: t0.Add(-time.Duration(minutesAgo) * time.Minute),
			LastSeen:  t0.Add(-time.Minute),
		},
		Events: []EventRef{{Seq: seq, ID: "evt-" + id}},
	}
}

func apiVersion(kind string) string {
	switch kind {
	case "Deployment":
		return "apps/v1"
	case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
		return "rbac.authorization.k8s.io/v1"
	}
	return "v1"
}

// testPolicies stands in for the policy set: every policy the catalogue names,
// except the resource policies (so NSA-Resource-Policies has none loaded). RBAC
// policies check Roles, ClusterRole-only ones ClusterRoles, the rest workloads.
func testPolicies(t *testing.T, cat *compliance.Catalogue) []PolicyInfo {
	t.Helper()
	clusterRoleOnly := map[string]bool{"BLF-RBAC-004": true, "BLF-RBAC-006": true, "BLF-RBAC-011": true, "BLF-RBAC-012": true, "BLF-RBAC-013": true}
	seen := map[string]bool{}
	var out []PolicyInfo
	for _, fw := range cat.Frameworks() {
		for _, c := range fw.Controls {
			for _, id := range c.Policies {
				if seen[id] || strings.HasPrefix(id, "BLF-RES-") {
					continue
				}
				seen[id] = true
				kinds := []string{"Pod", "Deployment"}
				switch {
				case clusterRoleOnly[id]:
					kinds = []string{"ClusterRole"}
				case strings.HasPrefix(id, "BLF-RBAC-"):
					kinds = []string{"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount", "Pod", "Deployment"}
				}
				out = append(out, PolicyInfo{
					ID: id, Title: "Title of " + id, Severity: "high", Enforcement: "deny",
					AppliesTo: func(kind string) bool { return slices.Contains(kinds, kind) },
				})
			}
		}
	}
	slices.SortFunc(out, func(a, b PolicyInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// testSource is one cluster, prod-eu, with privileged and root pods, a wildcard
// Role, an intact trail, and no ClusterRole in its inventory.
func testSource() *memSource {
	return &memSource{
		clusters: map[string]*memCluster{
			"prod-eu": {
				findings: []Finding{
					finding("f-priv-1", "BLF-PSS-007", "Pod", "payments", "debug-shell", 300, 40),
					finding("f-root-1", "BLF-PSS-018", "Pod", "payments", "debug-shell", 300, 40),
					finding("f-root-2", "BLF-PSS-018", "Deployment", "shop", "frontend", 120, 77),
					finding("f-wild-1", "BLF-RBAC-001", "Role", "shop", "everything", 60, 90),
					finding("f-later", "BLF-PSS-007", "Pod", "shop", "future", -5, 120), // after the snapshot
				},
				trail:     TrailRange{Status: TrailIntact, FromSeq: 1, ToSeq: 118, Events: 118, LastHash: "sha256:" + strings.Repeat("ab", 32)},
				inventory: Inventory{Known: true, ByKind: map[string]int{"Pod": 12, "Deployment": 4, "Role": 3, "RoleBinding": 3, "ServiceAccount": 5}},
			},
			"staging": {trail: TrailRange{Status: TrailEmpty}},
		},
		admissions: map[string]Admissions{
			"prod-eu": {
				Totals: AdmissionTotals{Total: 57, Allowed: 50, Warned: 3, Denied: 4, DryRuns: 2},
				PerPolicy: map[string]PolicyAdmissions{
					"BLF-PSS-007":  {Denied: 2},
					"BLF-PSS-003":  {Denied: 1, Exempted: 1},
					"BLF-RBAC-008": {Warned: 3},
					"BLF-GEO-001":  {Denied: 1, Allowed: 1},
				},
			},
		},
	}
}

func testGenerator(t *testing.T, src Source) *Generator {
	t.Helper()
	cat, err := compliance.Load()
	if err != nil {
		t.Fatal(err)
	}
	return &Generator{
		Source: src, Catalogue: cat, Policies: testPolicies(t, cat),
		PolicySetVersion: "ps-test", Version: "v0.0.0-test",
		Now: func() time.Time { return t0 },
	}
}

// testKey is a fixed Ed25519 key, so signed reports are deterministic.
func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed([]byte("bailiff-report-test-seed-32bytes"))
}

// generate makes and signs the report of a request against testSource.
func generate(t *testing.T, req Request) *Report {
	t.Helper()
	r, err := testGenerator(t, testSource()).Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(r, testKey()); err != nil {
		t.Fatal(err)
	}
	return r
}

// result finds a control's result in a cluster report.
func result(t *testing.T, r *Report, cluster, control string) ControlResult {
	t.Helper()
	c, ok := r.Cluster(cluster)
	if !ok {
		t.Fatalf("no cluster %s in the report", cluster)
	}
	for _, fw := range c.Frameworks {
		for _, res := range fw.Results {
			if res.Control == control {
				return res
			}
		}
	}
	t.Fatalf("no control %s in the report", control)
	return ControlResult{}
}
