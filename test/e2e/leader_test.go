//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/store"
)

// wildcardRole is a Role that BLF-RBAC-001 reports.
const wildcardRole = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: %s, namespace: shop}
rules:
  - {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
`

// TestAuditorReplicasElectOneLeader runs two `bailiff audit` replicas as the chart does
// (leader election on, one Lease), each with a store of its own so that what each
// evaluated can be told apart: only the leader evaluates, and when it stops the other
// takes over, audits everything, and sweeps again at its interval.
func TestAuditorReplicasElectOneLeader(t *testing.T) {
	c := startCluster(t)
	bin := bailiffBinary(t)
	dir := t.TempDir()
	configFile := filepath.Join(dir, "bailiff.yaml")
	must(t, os.WriteFile(configFile, []byte(fmt.Sprintf(e2eConfig, "eu-west-1")), 0o644))
	c.mustKubectl(namespaces+"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: bailiff-system}\n", "apply", "-f", "-")
	c.mustKubectl(fmt.Sprintf(wildcardRole, "first"), "apply", "-f", "-")

	type replica struct {
		*auditProcess
		store store.Store
	}
	start := func(name, interval string) replica {
		t.Helper()
		dbPath := filepath.Join(dir, name+".db")
		p := startAudit(t, c, bin, "--leader-elect=true", "--leader-election-namespace", "bailiff-system",
			"--store", "sqlite://"+dbPath, "--config", configFile, "--interval", interval, "--no-reports")
		st, err := store.OpenSQLite(context.Background(), dbPath)
		must(t, err)
		t.Cleanup(func() { st.Close() })
		return replica{p, st}
	}
	roles := func(r replica) map[string]bool {
		t.Helper()
		page, err := r.store.Findings(context.Background(), store.FindingQuery{Cluster: "e2e", Kind: "Role", State: "open", Limit: 1000})
		must(t, err)
		out := map[string]bool{}
		for _, f := range page.Findings {
			if f.PolicyID == "BLF-RBAC-001" {
				out[f.Name] = true
			}
		}
		return out
	}
	holder := func() string {
		return c.mustKubectl("", "get", "lease", "bailiff-audit", "-n", "bailiff-system", "-o", "jsonpath={.spec.holderIdentity}")
	}

	a := start("a", "1h")
	waitUntil(t, "the first replica to audit the Role", func() bool { return roles(a)["first"] })
	leader := holder()
	if leader == "" {
		t.Fatal("the Lease names no holder while the first replica audits")
	}

	b := start("b", "2s")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the second replica's log:\n%s", b.logs.String())
		}
	})
	// client-go's leader election logs through the auditor's logger.
	waitUntil(t, "the second replica to contend for the Lease", func() bool {
		return strings.Contains(b.logs.String(), `msg="Attempting to acquire leader lease..."`)
	})
	// A change while both run is evaluated by the leader alone.
	c.mustKubectl(fmt.Sprintf(wildcardRole, "second"), "apply", "-f", "-")
	waitUntil(t, "the leader to audit the new Role", func() bool { return roles(a)["second"] })
	// (Had the second replica evaluated, it would most likely have done so by now; the
	// takeover below is what proves the election either way.)
	if got := roles(b); len(got) > 0 || strings.Contains(b.logs.String(), `msg="sweep done"`) {
		t.Fatalf("the replica that is not the leader evaluated %v", got)
	}
	if h := holder(); h != leader {
		t.Fatalf("the Lease moved from %s to %s while its holder ran", leader, h)
	}

	// The leader stops and releases the Lease; the other replica takes over and audits
	// everything, including a change made after the first one stopped.
	a.stop(t)
	c.mustKubectl(fmt.Sprintf(wildcardRole, "third"), "apply", "-f", "-")
	waitUntil(t, "the second replica to take over and audit every Role", func() bool {
		got := roles(b)
		return got["first"] && got["second"] && got["third"]
	})
	if h := holder(); h == "" || h == leader {
		t.Errorf("the Lease's holder is %q after the leader stopped, want the second replica", h)
	}
	waitUntil(t, "the new leader's sweep at its interval", func() bool {
		return strings.Contains(b.logs.String(), `msg="sweep done" reason=interval`)
	})
}
