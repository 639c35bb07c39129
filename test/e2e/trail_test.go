//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/test/kube"
	"github.com/bailiff/bailiff/test/logbuf"
)

// trailServer is `bailiff server` on plain HTTP with an SQLite store, as a user runs it
// locally.
type trailServer struct {
	t          *testing.T
	bin, store string
	adminToken string // file
	port       int
	cmd        *exec.Cmd
	logs       *logbuf.Buffer
	done       chan error
}

func (s *trailServer) url() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

// start runs the server and waits until it is ready.
func (s *trailServer) start() {
	s.t.Helper()
	s.logs, s.done = &logbuf.Buffer{}, make(chan error, 1)
	s.cmd = exec.Command(s.bin, "server", "--addr", fmt.Sprintf("127.0.0.1:%d", s.port), "--insecure-http",
		"--store", s.store, "--admin-token-file", s.adminToken, "--log-format", "text")
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	must(s.t, s.cmd.Start())
	go func() { s.done <- s.cmd.Wait() }()
	waitUntil(s.t, "bailiff server to be ready", func() bool {
		select {
		case err := <-s.done:
			s.t.Fatalf("bailiff server exited: %v\n%s", err, s.logs.String())
		default:
		}
		resp, err := http.Get(s.url() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// stop interrupts the server and waits for it to exit.
func (s *trailServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// token creates a credential directly in the store and returns its token.
func (s *trailServer) token(name, role, cluster string) string {
	s.t.Helper()
	args := []string{"server", "token", "create", "--name", name, "--role", role, "--store", s.store}
	if cluster != "" {
		args = append(args, "--cluster", cluster)
	}
	out, err := exec.Command(s.bin, args...).Output()
	if err != nil {
		s.t.Fatalf("bailiff %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// trailEvent is what the test reads of an event from GET /api/v1/events.
type trailEvent struct {
	ID         string   `json:"id"`
	Source     string   `json:"source"`
	User       string   `json:"user"`
	Groups     []string `json:"groups"`
	Operation  string   `json:"operation"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Name       string   `json:"name"`
	Decision   string   `json:"decision"`
	DryRun     bool     `json:"dryRun"`
	Violations []struct {
		PolicyID string `json:"policyId"`
	} `json:"violations"`
	Patch            json.RawMessage `json:"patch"`
	PolicySetVersion string          `json:"policySetVersion"`
	Details          struct {
		Endpoint string `json:"endpoint"`
		Owner    string `json:"owner"`
		Trigger  string `json:"trigger"`
		Error    string `json:"error"`
	} `json:"details"`
}

// events reads every event of the query from the server, following pages; nil if
// the server cannot be asked.
func (s *trailServer) events(token string, query url.Values) []trailEvent {
	s.t.Helper()
	var all []trailEvent
	query.Set("limit", "1000")
	for {
		req, _ := http.NewRequest(http.MethodGet, s.url()+"/api/v1/events?"+query.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		var page struct {
			Events []trailEvent `json:"events"`
			Next   string       `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			s.t.Fatalf("GET /api/v1/events: HTTP %d, %v", resp.StatusCode, err)
		}
		all = append(all, page.Events...)
		if page.Next == "" {
			return all
		}
		query.Set("cursor", page.Next)
	}
}

// tally counts the validate answers of namespace trail by decision, and the /mutate
// answers apart.
func tally(events []trailEvent) map[string]int {
	counts := map[string]int{}
	for _, e := range events {
		if e.Details.Endpoint == "mutate" {
			counts["mutate"]++
			continue
		}
		counts[e.Decision]++
		if e.DryRun {
			counts["dryRun"]++
		}
	}
	return counts
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// waitLong polls cond for up to two minutes: the emitter retries a server that was
// down with a backoff of up to a minute.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

const trailExemption = `exemptions:
  - {policy: BLF-IMG-001, namespace: legacy, owner: team-legacy, reason: "mirrors Docker Hub until the registry move", expires: 2099-12-31}
`

// TestTrailOfAdmissionDecisions is issue 5 end to end: kubectl against a real API
// server, bailiff webhook recording its decisions, bailiff server storing them, an
// auditor reading and verifying them, through an outage of the server.
func TestTrailOfAdmissionDecisions(t *testing.T) {
	c := startCluster(t)
	bin := bailiffBinary(t)
	dir := t.TempDir()

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	adminToken := filepath.Join(dir, "admin.token")
	must(t, os.WriteFile(adminToken, []byte(base64.RawURLEncoding.EncodeToString(secret)), 0o600))
	dbPath := filepath.Join(dir, "bailiff.db")
	srv := &trailServer{t: t, bin: bin, store: "sqlite://" + dbPath, adminToken: adminToken, port: freePort(t)}
	srv.start()
	t.Cleanup(srv.stop)
	clusterToken := filepath.Join(dir, "cluster.token")
	must(t, os.WriteFile(clusterToken, []byte(srv.token("e2e-cluster", "cluster", "e2e")), 0o600))
	auditor := srv.token("e2e-auditor", "auditor", "")

	configFile := filepath.Join(dir, "config", "bailiff.yaml")
	must(t, os.MkdirAll(filepath.Dir(configFile), 0o755))
	config := fmt.Sprintf(e2eConfig, "eu-west-1") + trailExemption
	must(t, os.WriteFile(configFile, []byte(config), 0o644))
	certDir := filepath.Join(dir, "certs")
	port := freePort(t)
	// No --cluster: the trail takes cluster.name from the configuration.
	w := startWebhook(t, c, bin, configFile, certDir, port, true,
		"--trail-server", srv.url(), "--trail-token-file", clusterToken, "--trail-queue-dir", filepath.Join(dir, "queue"))
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	must(t, err)
	c.mustKubectl("apiVersion: v1\nkind: Namespace\nmetadata: {name: trail}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: probe}\n", "apply", "-f", "-")
	c.mustKubectl(kube.WebhookConfigurations(port, caPEM, "Fail", "Fail"), "apply", "-f", "-")
	must(t, c.WaitWebhookCalled(t.Context(), "probe"))

	// Jane acts through impersonation, so the trail must name her and her groups.
	as := []string{"--as", "jane@example.com", "--as-group", "system:masters", "--as-group", "auditors"}
	kubectl := func(stdin string, args ...string) (string, error) {
		_, errOut, err := c.kubectl(stdin, append(args, as...)...)
		return errOut, err
	}
	allow := func(stdin string, args ...string) {
		t.Helper()
		if errOut, err := kubectl(stdin, args...); err != nil {
			t.Fatalf("kubectl %s must succeed: %v\n%s", strings.Join(args, " "), err, errOut)
		}
	}
	deny := func(stdin string, args ...string) {
		t.Helper()
		errOut, err := kubectl(stdin, args...)
		if err == nil || !strings.Contains(errOut, "[BLF-IMG-001]") {
			t.Fatalf("kubectl %s must be refused by BLF-IMG-001, got err=%v\n%s", strings.Join(args, " "), err, errOut)
		}
	}
	inTrail := url.Values{"cluster": {"e2e"}, "namespace": {"trail"}, "source": {"admission"}}

	// The workloads: compliant but for what each says.
	unapproved := deployment("trail", "cache", "docker.io/library/redis:7", true, false)
	warnedNoResources := deployment("trail", "shared-sa", "registry.example.com/shop/web:1.0", false, false)

	t.Run("allowed, denied, warned and dry-run answers reach the server", func(t *testing.T) {
		allow("", "create", "configmap", "settings", "-n", "trail")
		deny(unapproved, "apply", "-f", "-")
		allow(warnedNoResources, "apply", "-f", "-")
		allow("", "create", "configmap", "rehearsal", "-n", "trail", "--dry-run=server")
		deny(strings.Replace(unapproved, "name: cache", "name: cache-rehearsal", 1), "apply", "--dry-run=server", "-f", "-")

		want := map[string]int{"allowed": 2, "denied": 2, "warned": 1, "dryRun": 2, "mutate": 5}
		var events []trailEvent
		waitLong(t, "the five decisions in the trail", func() bool {
			events = srv.events(auditor, inTrail)
			return equalCounts(tally(events), want)
		})
		for _, e := range events {
			if e.User != "jane@example.com" || !contains(e.Groups, "system:masters") || !contains(e.Groups, "auditors") {
				t.Errorf("event %s names user %q groups %v", e.ID, e.User, e.Groups)
			}
			if wantDry := strings.Contains(e.Name, "rehearsal"); e.DryRun != wantDry {
				t.Errorf("%s %s: dryRun = %v", e.Details.Endpoint, e.Name, e.DryRun)
			}
			if e.PolicySetVersion == "" || e.Operation != "CREATE" {
				t.Errorf("event %s: policySetVersion %q operation %q", e.ID, e.PolicySetVersion, e.Operation)
			}
			if e.Decision == "denied" && !containsPolicy(e, "BLF-IMG-001") {
				t.Errorf("denial %s names no BLF-IMG-001", e.Name)
			}
			if e.Name == "shared-sa" && e.Details.Endpoint == "mutate" && !bytes.Contains(e.Patch, []byte("resources")) {
				t.Errorf("the mutation of shared-sa is recorded without its patch: %s", e.Patch)
			}
		}
	})

	t.Run("an exemption used and the policy set loaded at start are in the trail", func(t *testing.T) {
		allow(deployment("legacy", "mirror", "docker.io/library/redis:7", true, true), "apply", "-f", "-")
		waitLong(t, "the exemption use", func() bool {
			used := srv.events(auditor, url.Values{"cluster": {"e2e"}, "source": {"exemption"}})
			return len(used) == 1 && used[0].Decision == "used" && used[0].Details.Owner == "team-legacy" &&
				used[0].Name == "mirror" && containsPolicy(used[0], "BLF-IMG-001")
		})
		loaded := srv.events(auditor, url.Values{"cluster": {"e2e"}, "source": {"config"}})
		if len(loaded) != 1 || loaded[0].Decision != "loaded" || loaded[0].Details.Trigger != "start" || loaded[0].PolicySetVersion == "" {
			t.Errorf("config events = %+v", loaded)
		}
	})

	verify := func(t *testing.T) {
		t.Helper()
		out, err := exec.Command(bin, "trail", "verify", "--store", srv.store, "--cluster", "e2e").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "intact") {
			t.Fatalf("bailiff trail verify: %v\n%s", err, out)
		}
		t.Logf("%s", bytes.TrimSpace(out))
	}
	t.Run("the trail verifies", verify)

	t.Run("with the server down admission answers and nothing is lost", func(t *testing.T) {
		srv.stop()
		allow("", "create", "configmap", "during-outage", "-n", "trail")
		deny(strings.Replace(unapproved, "name: cache", "name: cache-outage", 1), "apply", "-f", "-")
		allow("", "create", "configmap", "outage-rehearsal", "-n", "trail", "--dry-run=server")
		// A broken configuration is rejected while the server is away; the repaired
		// one builds the set already serving, so it is no change.
		must(t, os.WriteFile(configFile, []byte(strings.Replace(config, "level: restricted", "level: strict", 1)), 0o644))
		waitUntil(t, "the broken configuration to be rejected", func() bool {
			_, body := w.readyz()
			return strings.Contains(body, "failed")
		})
		must(t, os.WriteFile(configFile, []byte(config), 0o644))
		waitUntil(t, "the repaired configuration to be read", func() bool {
			_, body := w.readyz()
			return !strings.Contains(body, "failed")
		})

		srv.start()
		want := map[string]int{"allowed": 4, "denied": 3, "warned": 1, "dryRun": 3, "mutate": 8}
		var events []trailEvent
		waitLong(t, "the decisions made during the outage", func() bool {
			events = srv.events(auditor, inTrail)
			return equalCounts(tally(events), want)
		})
		seen := map[string]bool{}
		for _, e := range events {
			if seen[e.ID] {
				t.Errorf("event %s stored twice", e.ID)
			}
			seen[e.ID] = true
		}
		var rejected []trailEvent
		waitLong(t, "the rejected configuration", func() bool {
			rejected = srv.events(auditor, url.Values{"cluster": {"e2e"}, "source": {"config"}, "decision": {"rejected"}})
			return len(rejected) == 1
		})
		if !strings.Contains(rejected[0].Details.Error, "podSecurity.level") {
			t.Errorf("the rejection must say why: %+v", rejected[0].Details)
		}
		if !strings.Contains(w.logs.String(), "cannot deliver trail events") {
			t.Errorf("the webhook must have logged the outage:\n%s", w.logs.String())
		}
	})

	t.Run("the trail still verifies", verify)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsPolicy(e trailEvent, id string) bool {
	for _, v := range e.Violations {
		if v.PolicyID == id {
			return true
		}
	}
	return false
}
