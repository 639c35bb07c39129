//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bailiff/bailiff/pkg/serve"
	"github.com/bailiff/bailiff/pkg/webhooktls"
	"github.com/bailiff/bailiff/test/kube"
	"github.com/bailiff/bailiff/test/logbuf"
)

const (
	tlsNamespace = "bailiff-system"
	tlsSecret    = "bailiff-webhook-tls"
	tlsConfig    = "bailiff"
	tlsAccount   = "bailiff-webhook"
)

// selfManagedCluster prepares what the chart installs for tls.mode=self-managed: the
// empty Secret, the webhook's ServiceAccount with exactly the chart's RBAC (get, list,
// watch, update, patch by resourceNames), and both webhook configurations without a
// caBundle, one webhook per replica port. It returns an admin client and a client acting
// as the webhook's ServiceAccount.
func selfManagedCluster(t *testing.T, c *cluster, ports []int) (admin, webhookClient kubernetes.Interface, webhookConfig *rest.Config) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	must(t, err)
	admin, err = kubernetes.NewForConfig(cfg)
	must(t, err)
	ctx := context.Background()
	verbs := []string{"get", "list", "watch", "update", "patch"}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: tlsAccount, Namespace: tlsNamespace}}
	for _, create := range []func() error{
		func() error {
			_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tlsNamespace}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().ServiceAccounts(tlsNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: tlsAccount}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().Secrets(tlsNamespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: tlsSecret}, Type: corev1.SecretTypeOpaque}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
				ObjectMeta: metav1.ObjectMeta{Name: tlsAccount + "-cabundle"},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{"admissionregistration.k8s.io"},
					Resources:     []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"},
					ResourceNames: []string{tlsConfig}, Verbs: verbs}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: tlsAccount + "-cabundle"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: tlsAccount + "-cabundle"},
				Subjects:   subject,
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.RbacV1().Roles(tlsNamespace).Create(ctx, &rbacv1.Role{
				ObjectMeta: metav1.ObjectMeta{Name: tlsAccount + "-tls"},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"},
					ResourceNames: []string{tlsSecret}, Verbs: verbs}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.RbacV1().RoleBindings(tlsNamespace).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: tlsAccount + "-tls"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: tlsAccount + "-tls"},
				Subjects:   subject,
			}, metav1.CreateOptions{})
			return err
		},
	} {
		must(t, create())
	}

	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	probeOnly := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{"probe"}}}}
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: tlsConfig}}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: tlsConfig}}
	for i, port := range ports {
		url := func(path string) *string { u := fmt.Sprintf("https://127.0.0.1:%d/%s", port, path); return &u }
		vwc.Webhooks = append(vwc.Webhooks, admissionregistrationv1.ValidatingWebhook{
			Name: fmt.Sprintf("validate-%d.bailiff.io", i), ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("validate")},
			Rules: rules, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: probeOnly,
		})
		mwc.Webhooks = append(mwc.Webhooks, admissionregistrationv1.MutatingWebhook{
			Name: fmt.Sprintf("mutate-%d.bailiff.io", i), ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("mutate")},
			Rules: rules, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: probeOnly,
		})
	}
	_, err = admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})
	must(t, err)
	_, err = admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{})
	must(t, err)

	webhookConfig = rest.CopyConfig(cfg)
	webhookConfig.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + tlsNamespace + ":" + tlsAccount}
	webhookClient, err = kubernetes.NewForConfig(webhookConfig)
	must(t, err)
	return admin, webhookClient, webhookConfig
}

// allowAll answers every AdmissionReview with allowed: the test is about TLS.
func allowAll() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	})
}

// replica is one webhook replica in-process: the TLS manager and the server it feeds.
type replica struct {
	port    int
	dir     string
	manager *webhooktls.Manager
	logs    *logbuf.Buffer
}

func startReplicas(t *testing.T, ctx context.Context, cfg *rest.Config, listeners []net.Listener, caValidity, certValidity time.Duration) []*replica {
	t.Helper()
	replicas := make([]*replica, len(listeners))
	for i, l := range listeners {
		r := &replica{port: l.Addr().(*net.TCPAddr).Port, dir: filepath.Join(t.TempDir(), "tls"), logs: &logbuf.Buffer{}}
		client, err := kubernetes.NewForConfig(cfg) // one per replica, as each pod has its own
		must(t, err)
		m, err := webhooktls.New(webhooktls.Options{
			Client: client, Namespace: tlsNamespace, SecretName: tlsSecret,
			ValidatingWebhookConfiguration: tlsConfig, MutatingWebhookConfiguration: tlsConfig,
			Hosts: []string{"127.0.0.1"}, CAValidity: caValidity, CertValidity: certValidity, CertDir: r.dir,
			Served: func(ctx context.Context) (*x509.Certificate, error) { return serve.ServedCertificate(ctx, l.Addr()) },
			Logger: slog.New(slog.NewTextHandler(r.logs, nil)),
		})
		must(t, err)
		r.manager = m
		replicas[i] = r
	}
	// Both start at once on the empty Secret: one CA must come out.
	var wg sync.WaitGroup
	errs := make([]error, len(replicas))
	for i, r := range replicas {
		wg.Go(func() {
			initCtx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			errs[i] = r.manager.Init(initCtx)
		})
	}
	wg.Wait()
	var done sync.WaitGroup
	for i, r := range replicas {
		must(t, errs[i])
		done.Go(func() {
			if err := r.manager.Run(ctx); err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		})
		done.Go(func() {
			if err := serve.Run(ctx, listeners[i], serve.Options{Name: "webhook", Handler: allowAll(), CertDir: r.dir}); err != nil {
				t.Errorf("replica %d serving: %v", i, err)
			}
		})
	}
	t.Cleanup(func() {
		done.Wait()
		if t.Failed() || os.Getenv("BAILIFF_TEST_LOGS") != "" {
			for i, r := range replicas {
				t.Logf("replica %d logs:\n%s", i, r.logs.String())
			}
		}
	})
	return replicas
}

func listen(t *testing.T, n int) ([]net.Listener, []int) {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ls, ports
}

// caBundles reads the caBundle of every webhook from the API server, by webhook name.
func caBundles(ctx context.Context, admin kubernetes.Interface) (map[string][]byte, error) {
	v, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, tlsConfig, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	m, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, tlsConfig, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, w := range v.Webhooks {
		out[w.Name] = w.ClientConfig.CABundle
	}
	for _, w := range m.Webhooks {
		out[w.Name] = w.ClientConfig.CABundle
	}
	return out, nil
}

func countCAs(pemBytes []byte) int { return strings.Count(string(pemBytes), "BEGIN CERTIFICATE") }

// TestSelfManagedTLS runs two webhook replicas in-process with the chart's RBAC against
// a real API server, with a CA living a minute and serving certificates twenty seconds,
// so rotation happens within the test. Throughout, a client that trusts only the
// caBundle it has just read from the API server connects to both replicas, and the API
// server itself calls both (failurePolicy Fail) for a dry-run ConfigMap twice a second:
// neither may ever fail.
func TestSelfManagedTLS(t *testing.T) {
	c := startCluster(t)
	listeners, ports := listen(t, 2)
	admin, webhookClient, webhookConfig := selfManagedCluster(t, c, ports)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	t.Run("the chart's RBAC lets the webhook list and watch its objects by name only", func(t *testing.T) {
		byName := metav1.ListOptions{FieldSelector: "metadata.name=" + tlsSecret}
		if _, err := webhookClient.CoreV1().Secrets(tlsNamespace).List(ctx, byName); err != nil {
			t.Fatalf("list with metadata.name: %v", err)
		}
		w, err := webhookClient.CoreV1().Secrets(tlsNamespace).Watch(ctx, byName)
		if err != nil {
			t.Fatalf("watch with metadata.name: %v", err)
		}
		w.Stop()
		if _, err := webhookClient.CoreV1().Secrets(tlsNamespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("listing every Secret must be forbidden, got %v", err)
		}
		if _, err := webhookClient.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx,
			metav1.ListOptions{FieldSelector: "metadata.name=" + tlsConfig}); err != nil {
			t.Fatalf("list the configuration by name: %v", err)
		}
	})

	start := time.Now()
	replicas := startReplicas(t, ctx, webhookConfig, listeners, time.Minute, 20*time.Second)

	t.Run("replicas sharing the Secret end up with one CA", func(t *testing.T) {
		secret, err := admin.CoreV1().Secrets(tlsNamespace).Get(ctx, tlsSecret, metav1.GetOptions{})
		must(t, err)
		if n := countCAs(secret.Data["ca.crt"]); n != 1 {
			t.Fatalf("the Secret's ca.crt holds %d CAs, want 1", n)
		}
		for i, r := range replicas {
			ca, err := os.ReadFile(filepath.Join(r.dir, "ca.crt"))
			must(t, err)
			if string(ca) != string(secret.Data["ca.crt"]) {
				t.Errorf("replica %d trusts another CA than the Secret's", i)
			}
		}
		waitUntil(t, "both replicas ready", func() bool {
			for _, r := range replicas {
				if ok, _ := r.manager.Ready(ctx); !ok {
					return false
				}
			}
			return true
		})
		bundles, err := caBundles(ctx, admin)
		must(t, err)
		for name, b := range bundles {
			if string(b) != string(secret.Data["ca.crt"]) {
				t.Errorf("webhook %s: caBundle is not the Secret's ca.crt", name)
			}
		}
	})

	t.Run("a caBundle reset by someone is restored", func(t *testing.T) {
		v, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, tlsConfig, metav1.GetOptions{})
		must(t, err)
		for i := range v.Webhooks {
			v.Webhooks[i].ClientConfig.CABundle = nil
		}
		_, err = admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{})
		must(t, err)
		reset := time.Now()
		waitUntil(t, "the caBundle restored", func() bool {
			bundles, err := caBundles(ctx, admin)
			if err != nil {
				return false
			}
			for _, b := range bundles {
				if len(b) == 0 {
					return false
				}
			}
			return true
		})
		t.Logf("restored in %s", time.Since(reset).Round(time.Millisecond))
	})

	t.Run("CA rotation never drops a connection", func(t *testing.T) {
		var clientChecks, clientFailures, apiCalls, apiFailures atomic.Int64
		var failures sync.Map
		cas := map[string]bool{}
		maxCAs := 0
		var mu sync.Mutex
		loopCtx, stop := context.WithCancel(ctx)
		var loops sync.WaitGroup
		// The client: trusts only what the API server holds right now.
		loops.Go(func() {
			for loopCtx.Err() == nil {
				bundles, err := caBundles(loopCtx, admin)
				if err != nil {
					continue
				}
				for name, bundle := range bundles {
					i := 0
					if strings.HasSuffix(strings.SplitN(name, ".", 2)[0], "-1") {
						i = 1
					}
					pool := x509.NewCertPool()
					pool.AppendCertsFromPEM(bundle)
					mu.Lock()
					maxCAs = max(maxCAs, countCAs(bundle))
					for _, ca := range strings.SplitAfter(string(bundle), "-----END CERTIFICATE-----") {
						if strings.TrimSpace(ca) != "" {
							cas[strings.TrimSpace(ca)] = true
						}
					}
					mu.Unlock()
					clientChecks.Add(1)
					conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", replicas[i].port), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
					if err != nil {
						clientFailures.Add(1)
						failures.Store(fmt.Sprintf("%s client via %s", time.Since(start).Round(time.Millisecond), name), err.Error())
						continue
					}
					conn.Close()
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
		// The API server: calls all four webhooks for every dry-run ConfigMap.
		loops.Go(func() {
			for n := 0; loopCtx.Err() == nil; n++ {
				apiCalls.Add(1)
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", n)}}
				if _, err := admin.CoreV1().ConfigMaps("probe").Create(loopCtx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil && loopCtx.Err() == nil {
					apiFailures.Add(1)
					failures.Store(fmt.Sprintf("%s API server", time.Since(start).Round(time.Millisecond)), err.Error())
				}
				time.Sleep(500 * time.Millisecond)
			}
		})
		// Two rotations: the third CA signs after about 80 s and its predecessor is dropped
		// once the last certificate it signed expires.
		deadline := time.Now().Add(3 * time.Minute)
		for {
			time.Sleep(time.Second)
			mu.Lock()
			seen := len(cas)
			mu.Unlock()
			bundles, _ := caBundles(ctx, admin)
			settled := len(bundles) > 0
			for _, b := range bundles {
				settled = settled && countCAs(b) == 1
			}
			if seen >= 3 && settled {
				break
			}
			if time.Now().After(deadline) {
				stop()
				loops.Wait()
				t.Fatalf("only %d CAs seen in caBundle after %s", seen, time.Since(start))
			}
		}
		stop()
		loops.Wait()
		failures.Range(func(k, v any) bool { t.Errorf("%s: %s", k, v); return true })
		t.Logf("%s: %d CAs seen, at most %d in one caBundle; %d client handshakes (%d failed), %d API server calls (%d failed)",
			time.Since(start).Round(time.Second), len(cas), maxCAs, clientChecks.Load(), clientFailures.Load(), apiCalls.Load(), apiFailures.Load())
		if maxCAs < 2 {
			t.Errorf("the old and the new CA were never published together")
		}
		if apiCalls.Load() < 100 || clientChecks.Load() < 500 {
			t.Errorf("too few checks to mean anything")
		}
	})
	cancel()
}

// TestWebhookBinaryWithSelfManagedTLS runs `bailiff webhook` as the chart runs it in
// tls.mode=self-managed: it fills the empty Secret, sets caBundle, becomes ready, is
// called by the API server, and exports the expiry of what it serves.
func TestWebhookBinaryWithSelfManagedTLS(t *testing.T) {
	c := startCluster(t)
	bin := bailiffBinary(t)
	port := freePort(t)
	dir := t.TempDir()
	configFile := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(configFile, []byte(fmt.Sprintf(e2eConfig, "eu-west-1")), 0o644))
	c.mustKubectl(fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: Opaque\n",
		tlsNamespace, tlsSecret, tlsNamespace), "apply", "-f", "-")
	// As the chart does, the webhook's own namespace is never sent to it: it must be able
	// to write its Secret before it can serve.
	configs := strings.ReplaceAll(kube.WebhookConfigurations(port, nil, "Fail", "Fail"), "values: [kube-system]", "values: [kube-system, "+tlsNamespace+"]")
	c.mustKubectl(configs, "apply", "-f", "-")
	t.Setenv("POD_NAMESPACE", tlsNamespace)
	certDir := filepath.Join(dir, "tls")
	w := startWebhook(t, c, bin, configFile, certDir, port, false,
		"--tls-self-managed", "--tls-secret="+tlsSecret, "--tls-host=127.0.0.1",
		"--tls-ca-validity=2h", "--tls-cert-validity=30m",
		"--validating-webhook-configuration=bailiff", "--mutating-webhook-configuration=bailiff")

	secretCA := c.mustKubectl("", "-n", tlsNamespace, "get", "secret", tlsSecret, "-o", `jsonpath={.data.ca\.crt}`)
	for _, kind := range []string{"validatingwebhookconfiguration", "mutatingwebhookconfiguration"} {
		if got := c.mustKubectl("", "get", kind, "bailiff", "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}"); got == "" || got != secretCA {
			t.Errorf("%s caBundle is not the Secret's ca.crt", kind)
		}
	}
	if err := c.WaitWebhookCalled(context.Background(), "default"); err != nil {
		t.Fatalf("%v\n%s", err, w.logs.String())
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/metrics", port))
	must(t, err)
	defer resp.Body.Close()
	var metrics strings.Builder
	_, err = io.Copy(&metrics, resp.Body)
	must(t, err)
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool})
	must(t, err)
	notAfter := conn.ConnectionState().PeerCertificates[0].NotAfter
	conn.Close()
	if want := fmt.Sprintf("bailiff_tls_certificate_not_after_timestamp_seconds %g\n", float64(notAfter.Unix())); !strings.Contains(metrics.String(), want) {
		t.Errorf("want %q in /metrics", want)
	}
	if until := time.Until(notAfter); until < 29*time.Minute || until > 31*time.Minute {
		t.Errorf("the served certificate expires in %s, want --tls-cert-validity=30m", until)
	}
}
