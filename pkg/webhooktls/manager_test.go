package webhooktls

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bailiff/bailiff/pkg/serve"
	"github.com/bailiff/bailiff/test/poll"
)

const (
	testNamespace = "bailiff"
	testSecret    = "bailiff-webhook-tls"
	testConfig    = "bailiff"
)

// fakeCluster is a fake API server that, unlike client-go's fake, enforces
// resourceVersion preconditions on update, as the Manager relies on.
type fakeCluster struct {
	*fake.Clientset
	version       atomic.Int64
	forbidUpdates atomic.Bool // every update of a webhook configuration is refused
}

func newFakeCluster(t *testing.T, withSecret bool) *fakeCluster {
	t.Helper()
	hook := func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
			Namespace: testNamespace, Name: "bailiff-webhook", Path: &path}}
	}
	objects := []runtime.Object{
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testConfig, ResourceVersion: "1"},
			Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "validate.bailiff.io", ClientConfig: hook("/validate")}},
		},
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testConfig, ResourceVersion: "1"},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "mutate.bailiff.io", ClientConfig: hook("/mutate")}},
		},
	}
	if withSecret {
		objects = append(objects, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: testSecret, Namespace: testNamespace, ResourceVersion: "1"}})
	}
	c := &fakeCluster{Clientset: fake.NewClientset(objects...)}
	c.version.Store(1)
	c.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("the Manager must never create anything, got a create of %s", a.GetResource().Resource)
	})
	c.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		update := a.(k8stesting.UpdateAction)
		obj := update.GetObject().DeepCopyObject()
		m, err := meta.Accessor(obj)
		if err != nil {
			return true, nil, err
		}
		gvr := a.GetResource()
		if c.forbidUpdates.Load() && gvr.Resource != "secrets" {
			return true, nil, apierrors.NewForbidden(gvr.GroupResource(), m.GetName(), fmt.Errorf("forbidden by the test"))
		}
		current, err := c.Tracker().Get(gvr, a.GetNamespace(), m.GetName())
		if err != nil {
			return true, nil, err
		}
		cm, _ := meta.Accessor(current)
		if cm.GetResourceVersion() != m.GetResourceVersion() {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), m.GetName(),
				fmt.Errorf("resourceVersion %s is not the current %s", m.GetResourceVersion(), cm.GetResourceVersion()))
		}
		m.SetResourceVersion(strconv.FormatInt(c.version.Add(1), 10))
		return true, obj, c.Tracker().Update(gvr, obj, a.GetNamespace())
	})
	return c
}

var (
	vwcResource = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
	mwcResource = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}
)

// caBundles returns the caBundle of every webhook, as the API server holds them now.
func (c *fakeCluster) caBundles(t *testing.T) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	v, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"validating": v.Webhooks[0].ClientConfig.CABundle,
		"mutating":   mw.Webhooks[0].ClientConfig.CABundle,
	}
}

// resetValidatingCABundle does what a helm upgrade may do to the caBundle.
func (c *fakeCluster) resetValidatingCABundle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	v, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v.Webhooks[0].ClientConfig.CABundle = nil
	if _, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *fakeCluster) secret(t *testing.T) *corev1.Secret {
	t.Helper()
	s, err := c.CoreV1().Secrets(testNamespace).Get(context.Background(), testSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type testReplica struct {
	*Manager
	dir string
}

func newReplica(t *testing.T, c *fakeCluster, clock *clocktesting.FakeClock) *testReplica {
	t.Helper()
	dir := t.TempDir()
	m, err := New(Options{
		Client: c, Namespace: testNamespace, SecretName: testSecret,
		ValidatingWebhookConfiguration: testConfig, MutatingWebhookConfiguration: testConfig,
		Hosts:      []string{"bailiff-webhook.bailiff.svc", "127.0.0.1"},
		CAValidity: 90 * time.Minute, CertValidity: 15 * time.Minute, Settle: 10 * time.Second,
		CertDir: dir, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testReplica{Manager: m, dir: dir}
}

func (r *testReplica) file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *testReplica) served(t *testing.T) *x509.Certificate {
	t.Helper()
	c, err := r.certificateInDir()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// staleOnce answers the first Get with the Secret as it was, as a replica that read it
// just before another replica wrote would see it.
type staleOnce struct {
	secretClient
	stale *corev1.Secret
	used  bool
}

func (s *staleOnce) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Secret, error) {
	if !s.used {
		s.used = true
		return s.stale.DeepCopy(), nil
	}
	return s.secretClient.Get(ctx, name, opts)
}

func TestAReplicaThatLosesTheRaceUsesTheCAAnotherWrote(t *testing.T) {
	c := newFakeCluster(t, true)
	clock := clocktesting.NewFakeClock(t0)
	first, second := newReplica(t, c, clock), newReplica(t, c, clock)
	empty := c.secret(t)
	stale := &staleOnce{secretClient: c.CoreV1().Secrets(testNamespace), stale: empty}
	second.secrets = stale

	if _, err := first.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The second read the empty Secret before the first wrote: its own CA must lose.
	if _, err := second.Reconcile(context.Background()); !apierrors.IsConflict(err) {
		t.Fatalf("want a conflict for the replica that read the empty Secret, got %v", err)
	}
	if _, err := second.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.file(t, serve.CAFile), second.file(t, serve.CAFile)) ||
		!bytes.Equal(first.file(t, serve.CertFile), second.file(t, serve.CertFile)) {
		t.Fatal("both replicas must serve the same certificate from the same CA")
	}
	checkOneCAEverywhere(t, c, first)
}

func TestReplicasStartingTogetherEndUpWithOneCA(t *testing.T) {
	c := newFakeCluster(t, true)
	clock := clocktesting.NewFakeClock(t0)
	var replicas []*testReplica
	for range 5 {
		replicas = append(replicas, newReplica(t, c, clock))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(replicas))
	for i, r := range replicas {
		wg.Go(func() {
			// Init retries on the fake clock; keep it moving while they race.
			errs[i] = r.Init(ctx)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(5 * time.Millisecond):
			clock.Step(100 * time.Millisecond)
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	// A replica that lost its write still has to pick up the winner's; one more pass
	// each, as their watches would trigger.
	for _, r := range replicas {
		if _, err := r.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range replicas[1:] {
		if !bytes.Equal(replicas[0].file(t, serve.CAFile), r.file(t, serve.CAFile)) {
			t.Fatal("replicas disagree on the CA")
		}
	}
	checkOneCAEverywhere(t, c, replicas[0])
}

func checkOneCAEverywhere(t *testing.T, c *fakeCluster, r *testReplica) {
	t.Helper()
	secret := c.secret(t)
	cas, err := parseCertificates(secret.Data[KeyCABundle])
	if err != nil || len(cas) != 1 {
		t.Fatalf("the Secret's ca.crt must hold one CA, got %d (%v)", len(cas), err)
	}
	if !bytes.Equal(secret.Data[KeyCABundle], r.file(t, serve.CAFile)) {
		t.Error("ca.crt in the Secret and in the certificate directory differ")
	}
	for name, bundle := range c.caBundles(t) {
		if !sameCAs(bundle, cas) {
			t.Errorf("the %s webhook's caBundle is not the Secret's CA", name)
		}
	}
}

// TestRotationNeverLeavesAServedCertificateUntrusted runs two replicas through two CA
// rotations on a fake clock. After every pass of either replica, the caBundle the fake
// API server holds must trust the certificate each replica serves, and every serving
// certificate issued so far that has not expired: a replica may lag behind the Secret.
func TestRotationNeverLeavesAServedCertificateUntrusted(t *testing.T) {
	c := newFakeCluster(t, true)
	clock := clocktesting.NewFakeClock(t0)
	replicas := []*testReplica{newReplica(t, c, clock), newReplica(t, c, clock)}
	ctx := context.Background()
	var issued []*x509.Certificate
	var cas []*x509.Certificate
	check := func() {
		t.Helper()
		now := clock.Now()
		for _, r := range replicas {
			if cert, err := r.certificateInDir(); err == nil && !containsCert(issued, cert) {
				issued = append(issued, cert)
			}
		}
		for name, bundle := range c.caBundles(t) {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(bundle)
			for _, cert := range issued {
				if !now.Before(cert.NotAfter) {
					continue
				}
				if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now}); err != nil {
					t.Fatalf("at %s the %s caBundle does not trust a live serving certificate (expires %s): %v",
						now.Sub(t0), name, cert.NotAfter.Sub(t0), err)
				}
			}
		}
		if certs, _ := parseCertificates(c.secret(t).Data[KeySigningCert]); len(certs) == 1 && !containsCert(cas, certs[0]) {
			cas = append(cas, certs[0])
		}
	}
	for pass := 0; len(cas) < 3; pass++ {
		if pass > 10000 {
			t.Fatalf("no third CA after %d passes (at %s)", pass, clock.Now().Sub(t0))
		}
		next := clock.Now().Add(time.Hour)
		for i := range replicas {
			// Alternate which replica goes first, so each sometimes acts on the other's writes.
			r := replicas[(pass+i)%len(replicas)]
			due, err := r.Reconcile(ctx)
			if err != nil && !apierrors.IsConflict(err) {
				t.Fatal(err)
			}
			if err != nil {
				due = clock.Now()
			}
			if due.Before(next) {
				next = due
			}
			check()
		}
		if next.After(clock.Now()) {
			clock.SetTime(next)
		}
	}
	t.Logf("three CAs by %s, %d serving certificates issued", clock.Now().Sub(t0), len(issued))
	if len(issued) < 10 {
		t.Errorf("only %d serving certificates in three CA lifetimes: renewals are missing", len(issued))
	}
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, have := range certs {
		if have.Equal(c) {
			return true
		}
	}
	return false
}

func TestACABundleResetIsRestored(t *testing.T) {
	c := newFakeCluster(t, true)
	r := newReplica(t, c, clocktesting.NewFakeClock(t0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Init(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	want := c.caBundles(t)["validating"]
	c.resetValidatingCABundle(t)
	poll.Until(t, "the caBundle to be restored", func() bool {
		return bytes.Equal(c.caBundles(t)["validating"], want)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestReadyOnlyWhileEveryCaBundleTrustsTheServedCertificate(t *testing.T) {
	c := newFakeCluster(t, true)
	r := newReplica(t, c, clocktesting.NewFakeClock(t0))
	ctx := context.Background()
	if ready, why := r.Ready(ctx); ready {
		t.Fatalf("ready before anything was written: %s", why)
	}
	if err := r.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if ready, why := r.Ready(ctx); !ready {
		t.Fatalf("not ready after Init: %s", why)
	}
	c.resetValidatingCABundle(t)
	c.forbidUpdates.Store(true)
	if _, err := r.Reconcile(ctx); !apierrors.IsForbidden(err) {
		t.Fatalf("want the forbidden update reported, got %v", err)
	}
	ready, why := r.Ready(ctx)
	if ready || !strings.Contains(why, "validate.bailiff.io") {
		t.Fatalf("want not ready, naming the webhook without a caBundle; got %v %q", ready, why)
	}
	c.forbidUpdates.Store(false)
	if _, err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if ready, why := r.Ready(ctx); !ready {
		t.Fatalf("not ready once the caBundle is back: %s", why)
	}
}

func TestAMissingSecretSaysWhatToDo(t *testing.T) {
	c := newFakeCluster(t, false)
	r := newReplica(t, c, clocktesting.NewFakeClock(t0))
	_, err := r.Reconcile(context.Background())
	if err == nil || !strings.Contains(err.Error(), "create secret generic "+testSecret) {
		t.Fatalf("want an error saying how to create the Secret, got %v", err)
	}
}

func TestADamagedSecretIsNotReplaced(t *testing.T) {
	c := newFakeCluster(t, true)
	r := newReplica(t, c, clocktesting.NewFakeClock(t0))
	if _, err := r.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := c.secret(t)
	s.Data[KeySigningKey] = []byte("not a key")
	if _, err := c.CoreV1().Secrets(testNamespace).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(context.Background()); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("want the damage reported, got %v", err)
	}
	if got := c.secret(t).Data[KeySigningKey]; string(got) != "not a key" {
		t.Fatal("a damaged Secret must be left for a person to look at")
	}
}

func TestNewRefusesOptionsThatCannotWork(t *testing.T) {
	good := func() Options {
		return Options{Client: fake.NewClientset(), Namespace: "n", SecretName: "s", ValidatingWebhookConfiguration: "v",
			Hosts: []string{"h"}, CAValidity: time.Hour, CertValidity: time.Minute, CertDir: "d"}
	}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"without a secret name", func(o *Options) { o.SecretName = "" }, "Secret"},
		{"without a webhook configuration", func(o *Options) { o.ValidatingWebhookConfiguration = "" }, "webhook configuration"},
		{"without hosts", func(o *Options) { o.Hosts = nil }, "host"},
		{"with a certificate outliving its CA", func(o *Options) { o.CertValidity = 2 * time.Hour }, "shorter than the CA's"},
		{"with a zero validity", func(o *Options) { o.CAValidity = 0 }, "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.change(&o)
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error about %q, got %v", tc.want, err)
			}
		})
	}
	if _, err := New(good()); err != nil {
		t.Fatal(err)
	}
}
