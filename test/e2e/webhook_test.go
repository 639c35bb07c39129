//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/test/kube"
	"github.com/bailiff/bailiff/test/logbuf"
	"github.com/bailiff/bailiff/test/registrytest"
)

// webhookProcess is `bailiff webhook` running as a user would run it.
type webhookProcess struct {
	t       *testing.T
	cmd     *exec.Cmd
	port    int
	certDir string
	logs    *logbuf.Buffer
	done    chan error
}

// startWebhook starts the webhook against the cluster and waits until it is ready.
func startWebhook(t *testing.T, c *cluster, bin, configFile, certDir string, port int, selfSigned bool, extra ...string) *webhookProcess {
	t.Helper()
	args := append([]string{"webhook", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--cert-dir", certDir,
		"--kubeconfig", c.Kubeconfig, "--config", configFile, "--log-format", "text"}, extra...)
	if selfSigned {
		args = append(args, "--tls-self-signed")
	}
	w := &webhookProcess{t: t, cmd: exec.Command(bin, args...), port: port, certDir: certDir, logs: &logbuf.Buffer{}, done: make(chan error, 1)}
	w.cmd.Stdout, w.cmd.Stderr = w.logs, w.logs
	must(t, w.cmd.Start())
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(w.stop)
	w.waitReady()
	return w
}

func (w *webhookProcess) readyz() (int, string) {
	code, body, err := kube.Readyz(w.port, w.certDir)
	if err != nil {
		return 0, err.Error()
	}
	return code, body
}

func (w *webhookProcess) waitReady() {
	w.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-w.done:
			w.t.Fatalf("bailiff webhook exited: %v\n%s", err, w.logs.String())
		default:
		}
		if code, _ := w.readyz(); code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("bailiff webhook never became ready\n%s", w.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *webhookProcess) stop() {
	if w.cmd.ProcessState != nil {
		return
	}
	_ = w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	w.cmd.ProcessState = &os.ProcessState{}
}

const e2eConfig = `cluster: {name: e2e, region: %s}
images:
  allowedRegistries: [registry.example.com, ghcr.io/acme]
  unscanned: warn
resources:
  require: [requests.cpu, requests.memory, limits.memory]
  defaults: {requests.cpu: 100m, requests.memory: 128Mi, limits.memory: 256Mi}
placement:
  dataClasses:
    personal: {regions: [eu-west-1, eu-central-1]}
podSecurity: {level: restricted}
`

const namespaces = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata:
  name: customers
  labels: {bailiff.io/data-class: personal}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app, namespace: shop, labels: {app: x}}
automountServiceAccountToken: false
`

// protectedPolicy is a policy of the test's own that asks for deletions: ConfigMaps
// labelled bailiff.io/protected=true cannot be deleted.
const protectedPolicy = `# METADATA
# title: Protected ConfigMaps are kept
# scope: package
# custom:
#   id: TST-DEL-001
#   severity: high
#   enforcement: deny
#   kinds: [ConfigMap]
#   controls: []
#   operations: [DELETE]
package bailiff.test.protected

violation contains {"msg": "this ConfigMap is protected (bailiff.io/protected=true)"} if {
	input.request.oldObject.metadata.labels["bailiff.io/protected"] == "true"
}
`

// pod returns a Pod that passes every policy but what the caller changes; resources
// is its container's resources block ("" for none).
func pod(namespace, name, image, resources string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  serviceAccountName: app
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: app
      image: %s
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}%s
`, name, namespace, image, resources)
}

// deployment returns a Deployment that passes every policy but what the caller changes.
func deployment(namespace, name, image string, resources bool, serviceAccount bool) string {
	res := `
          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {memory: 128Mi}`
	if !resources {
		res = ""
	}
	sa := `
      serviceAccountName: app
      automountServiceAccountToken: false`
	if !serviceAccount {
		sa = ""
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: %s}
spec:
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:%s
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: app
          image: %s%s
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`, name, namespace, name, name, sa, image, res)
}

// TestWebhookOnARealAPIServer is the user's view of admission: kubectl against a real
// API server with Bailiff registered.
func TestWebhookOnARealAPIServer(t *testing.T) {
	c := startCluster(t)
	bin := bailiffBinary(t)
	dir := t.TempDir()
	configFile := filepath.Join(dir, "config", "bailiff.yaml")
	must(t, os.MkdirAll(filepath.Dir(configFile), 0o755))
	must(t, os.WriteFile(configFile, []byte(fmt.Sprintf(e2eConfig, "eu-west-1")), 0o644))
	certDir := filepath.Join(dir, "certs")
	port := freePort(t)
	registryHost := registrytest.Serve(t, nil)
	digest := registrytest.Push(t, registryHost, "shop/api:3.1")
	policyDir := filepath.Join(dir, "policies")
	must(t, os.MkdirAll(policyDir, 0o755))
	must(t, os.WriteFile(filepath.Join(policyDir, "protected.rego"), []byte(protectedPolicy), 0o644))
	w := startWebhook(t, c, bin, configFile, certDir, port, true, "--insecure-registries", registryHost, "--policies", policyDir)
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	must(t, err)

	c.mustKubectl(namespaces, "apply", "-f", "-")
	c.mustKubectl(kube.WebhookConfigurations(port, caPEM, "Fail", "Fail"), "apply", "-f", "-")

	// The API server reads webhook configurations asynchronously: wait until a
	// refusal shows Bailiff is in the path.
	waitUntil(t, "the webhook to be called", func() bool {
		_, errOut, err := c.kubectl(deployment("shop", "probe", "docker.io/library/nginx:1.27", true, true), "apply", "--dry-run=server", "-f", "-")
		return err != nil && strings.Contains(errOut, "BLF-IMG-001")
	})

	t.Run("a compliant Deployment is created", func(t *testing.T) {
		c.mustKubectl(deployment("shop", "web", "registry.example.com/shop/web:1.0", true, true), "apply", "-f", "-")
	})

	t.Run("an image from an unapproved registry is refused naming the policy", func(t *testing.T) {
		_, errOut, err := c.kubectl(deployment("shop", "cache", "docker.io/library/redis:7", true, true), "apply", "-f", "-")
		if err == nil || !strings.Contains(errOut, "denied the request") || !strings.Contains(errOut, "[BLF-IMG-001]") {
			t.Fatalf("want a refusal naming BLF-IMG-001, got err=%v\n%s", err, errOut)
		}
	})

	t.Run("a workload without requests gets the configured defaults", func(t *testing.T) {
		c.mustKubectl(deployment("shop", "nores", "registry.example.com/shop/web:1.0", false, true), "apply", "-f", "-")
		var d struct {
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Resources struct {
								Requests map[string]string
								Limits   map[string]string
							}
						}
					}
				}
			}
		}
		raw := c.mustKubectl("", "get", "deployment", "nores", "-n", "shop", "-o", "json")
		must(t, json.Unmarshal([]byte(raw), &d))
		if !strings.Contains(raw, `"bailiff.io/mutated-by": "BLF-RES-003"`) {
			t.Errorf("the object must say which policy changed it")
		}
		r := d.Spec.Template.Spec.Containers[0].Resources
		if r.Requests["cpu"] != "100m" || r.Requests["memory"] != "128Mi" || r.Limits["memory"] != "256Mi" {
			t.Errorf("resources = %+v", r)
		}
	})

	t.Run("a Pod missing requests gets the configured defaults", func(t *testing.T) {
		c.mustKubectl(pod("shop", "bare", "registry.example.com/shop/web:1.0", ""), "apply", "-f", "-")
		var p struct {
			Metadata struct{ Annotations map[string]string }
			Spec     struct {
				Containers []struct {
					Resources struct{ Requests, Limits map[string]string }
				}
			}
		}
		must(t, json.Unmarshal([]byte(c.mustKubectl("", "get", "pod", "bare", "-n", "shop", "-o", "json")), &p))
		if p.Metadata.Annotations["bailiff.io/mutated-by"] != "BLF-RES-003" {
			t.Errorf("mutated-by = %q, want BLF-RES-003", p.Metadata.Annotations["bailiff.io/mutated-by"])
		}
		r := p.Spec.Containers[0].Resources
		if r.Requests["cpu"] != "100m" || r.Requests["memory"] != "128Mi" || r.Limits["memory"] != "256Mi" {
			t.Errorf("resources = %+v", r)
		}
	})

	t.Run("a workload labelled as personal data is pinned to its regions", func(t *testing.T) {
		// shop carries no data class: the pod template's label alone decides.
		labelled := strings.Replace(deployment("shop", "profiles", "registry.example.com/shop/web:1.0", true, true),
			"    metadata: {labels: {app: profiles}}", "    metadata: {labels: {app: profiles, bailiff.io/data-class: personal}}", 1)
		c.mustKubectl(labelled, "apply", "-f", "-")
		out := c.mustKubectl("", "get", "deployment", "profiles", "-n", "shop", "-o", "jsonpath={.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]}")
		if !strings.Contains(out, "topology.kubernetes.io/region") || !strings.Contains(out, "eu-west-1") || !strings.Contains(out, "eu-central-1") {
			t.Errorf("affinity = %s", out)
		}
	})

	t.Run("a deletion is judged only by the policies that ask for deletions", func(t *testing.T) {
		c.mustKubectl("", "create", "configmap", "ledger", "-n", "shop")
		c.mustKubectl("", "label", "configmap", "ledger", "-n", "shop", "bailiff.io/protected=true")
		c.mustKubectl("", "create", "configmap", "scratch", "-n", "shop")
		_, errOut, err := c.kubectl("", "delete", "configmap", "ledger", "-n", "shop")
		if err == nil || !strings.Contains(errOut, "[TST-DEL-001]") {
			t.Fatalf("want the deletion refused naming TST-DEL-001, got err=%v\n%s", err, errOut)
		}
		c.mustKubectl("", "get", "configmap", "ledger", "-n", "shop")
		c.mustKubectl("", "delete", "configmap", "scratch", "-n", "shop")
	})

	t.Run("personal data is pinned to its regions", func(t *testing.T) {
		c.mustKubectl(strings.Replace(deployment("customers", "crm", "registry.example.com/crm/api:2.0", true, false), "    spec:\n", "    spec:\n      automountServiceAccountToken: false\n", 1), "apply", "-f", "-")
		out := c.mustKubectl("", "get", "deployment", "crm", "-n", "customers", "-o", "jsonpath={.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]}")
		if !strings.Contains(out, "topology.kubernetes.io/region") || !strings.Contains(out, "eu-west-1") || !strings.Contains(out, "eu-central-1") {
			t.Errorf("affinity = %s", out)
		}
	})

	t.Run("personal data volumes must use a storage class that stays in the regions", func(t *testing.T) {
		c.mustKubectl(`apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: eu-ssd}
provisioner: example.com/csi
allowedTopologies:
  - matchLabelExpressions: [{key: topology.kubernetes.io/region, values: [eu-west-1]}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: anywhere}
provisioner: example.com/csi
`, "apply", "-f", "-")
		pvc := func(name, class string) string {
			return fmt.Sprintf("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: %s, namespace: customers}\nspec: {storageClassName: %s, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n", name, class)
		}
		// The webhook learns of new StorageClasses from its informer: wait for it.
		waitUntil(t, "the storage classes to reach the webhook", func() bool {
			_, errOut, err := c.kubectl(pvc("exports", "anywhere"), "apply", "--dry-run=server", "-f", "-")
			return err != nil && strings.Contains(errOut, "[BLF-GEO-004]") && strings.Contains(errOut, "no allowedTopologies")
		})
		c.mustKubectl(pvc("backups", "eu-ssd"), "apply", "-f", "-")
	})

	t.Run("cluster-admin for a user is refused", func(t *testing.T) {
		_, errOut, err := c.kubectl("", "create", "clusterrolebinding", "contractor", "--clusterrole=cluster-admin", "--user=jane@contractor.example")
		if err == nil || !strings.Contains(errOut, "[BLF-RBAC-002]") {
			t.Fatalf("want a refusal naming BLF-RBAC-002, got err=%v\n%s", err, errOut)
		}
	})

	t.Run("a warn policy prints Warning: and the object is created", func(t *testing.T) {
		_, errOut, err := c.kubectl(deployment("shop", "shared-sa", "registry.example.com/shop/web:1.0", true, false), "apply", "-f", "-")
		if err != nil {
			t.Fatalf("a warned object must be created: %v\n%s", err, errOut)
		}
		if !strings.Contains(errOut, "Warning: [BLF-RBAC-008]") {
			t.Errorf("kubectl printed no Warning: [BLF-RBAC-008]:\n%s", errOut)
		}
		c.mustKubectl("", "get", "deployment", "shared-sa", "-n", "shop")
	})

	t.Run("a config edit changes the next decision without a restart", func(t *testing.T) {
		must(t, os.WriteFile(configFile, []byte(fmt.Sprintf(e2eConfig, "us-east-1")), 0o644))
		waitUntil(t, "the new region to apply", func() bool {
			_, errOut, err := c.kubectl(deployment("customers", "crm2", "registry.example.com/crm/api:2.0", true, false), "apply", "--dry-run=server", "-f", "-")
			return err != nil && strings.Contains(errOut, "[BLF-GEO-002]")
		})
		if _, body := w.readyz(); !strings.Contains(body, "serving policy set") {
			t.Errorf("readyz = %q", body)
		}
	})

	t.Run("with pinDigests on, a tag is rewritten to its digest", func(t *testing.T) {
		pinning := fmt.Sprintf(e2eConfig, "eu-west-1") + "images: {pinDigests: true, unscanned: warn, allowedRegistries: [" + registryHost + "]}\n"
		pinning = strings.Replace(pinning, "images:\n  allowedRegistries: [registry.example.com, ghcr.io/acme]\n  unscanned: warn\n", "", 1)
		must(t, os.WriteFile(configFile, []byte(pinning), 0o644))
		image := registryHost + "/shop/api:3.1"
		waitUntil(t, "pinning to apply", func() bool {
			out, _, err := c.kubectl(deployment("shop", "pinned", image, true, true), "apply", "--dry-run=server", "-o", "jsonpath={.spec.template.spec.containers[0].image}", "-f", "-")
			return err == nil && strings.Contains(out, "@sha256:")
		})
		c.mustKubectl(deployment("shop", "pinned", image, true, true), "apply", "-f", "-")
		got := c.mustKubectl("", "get", "deployment", "pinned", "-n", "shop", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
		if got != image+"@"+digest {
			t.Errorf("image = %q, want %q", got, image+"@"+digest)
		}
	})

	t.Run("with the webhook stopped the failure policy decides", func(t *testing.T) {
		w.stop()
		_, errOut, err := c.kubectl("", "create", "configmap", "while-down", "-n", "shop")
		if err == nil || !strings.Contains(errOut, "failed calling webhook") {
			t.Fatalf("failurePolicy Fail must refuse while the webhook is down, got err=%v\n%s", err, errOut)
		}
		c.mustKubectl(kube.WebhookConfigurations(port, caPEM, "Ignore", "Ignore"), "apply", "-f", "-")
		waitUntil(t, "failurePolicy Ignore to apply", func() bool {
			_, _, err := c.kubectl("", "create", "configmap", "while-down-ignored", "-n", "shop")
			return err == nil
		})
	})
}

// waitUntil waits for an asynchronous change to take effect.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	must(t, kube.WaitFor(context.Background(), what, cond))
}
