// Package webhooktls lets the admission webhook run its own TLS without cert-manager:
// it creates a CA and a serving certificate, keeps them in one Secret shared by every
// replica, writes them into the directory the server reloads its certificate from,
// renews and rotates them, and keeps the caBundle of the webhook configurations equal
// to the CAs in use.
//
// Rotation never drops a request because the API server trusts, at every moment, every
// certificate any replica may serve:
//
//   - every change goes through the Secret with optimistic concurrency (its
//     resourceVersion), so all replicas serve the one serving certificate it holds, or
//     the one it held a moment ago;
//   - a serving certificate is renewed two thirds into its life, by the CA that signed
//     the previous one, which the caBundle already holds;
//   - two thirds into the CA's life a next CA is created and published beside it in
//     every caBundle; it signs only once it has been seen there for Settle, time for
//     every API server to reload the configurations;
//   - the previous CA stays in caBundle until the last certificate it signed expires;
//   - a caBundle is written from the Secret read after the configuration (and with the
//     configuration's resourceVersion as precondition), so a replica that is behind can
//     never overwrite a newer caBundle with an older one.
//
// Someone resetting a caBundle (a helm upgrade, a person) is undone at once: the
// configurations are watched, limited to their names with a metadata.name field
// selector, which is what lets RBAC restrict list and watch by resourceNames.
package webhooktls

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	admissioninformers "k8s.io/client-go/informers/admissionregistration/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/bailiff/bailiff/pkg/serve"
)

// Options configure a Manager.
type Options struct {
	Client kubernetes.Interface
	// Namespace and SecretName name the Secret holding the CAs and the serving
	// certificate. It must exist (the chart creates it empty): the Manager only updates it.
	Namespace, SecretName string
	// ValidatingWebhookConfiguration and MutatingWebhookConfiguration name the
	// configurations whose caBundle the Manager keeps; either may be empty, not both.
	ValidatingWebhookConfiguration, MutatingWebhookConfiguration string
	// Hosts are the DNS names and IP addresses the serving certificate names; the first
	// is the one readiness verifies.
	Hosts []string
	// CAValidity and CertValidity are the lifetimes of the CA and of serving certificates.
	CAValidity, CertValidity time.Duration
	// Settle is how long the next CA must be in every caBundle before it signs: time for
	// every API server to reload the configurations. Default: 10s, or a twentieth of
	// CAValidity if that is shorter.
	Settle time.Duration
	// CertDir receives tls.crt, tls.key and ca.crt.
	CertDir string
	// Served returns the certificate the webhook serves now, for readiness; default:
	// the one in CertDir.
	Served func(ctx context.Context) (*x509.Certificate, error)
	Clock  clock.WithTicker // default: the real clock
	Logger *slog.Logger
}

// Manager keeps the webhook's TLS: see the package documentation.
type Manager struct {
	opts    Options
	secrets secretClient
	configs []namedConfiguration
	trigger chan struct{}

	mu       sync.Mutex
	written  map[string][]byte // what was last written into CertDir, by file name
	observed []configuration   // the configurations as last read or written
}

type namedConfiguration struct {
	name   string
	client configurationClient
}

type secretClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Secret, error)
	Update(ctx context.Context, secret *corev1.Secret, opts metav1.UpdateOptions) (*corev1.Secret, error)
}

// New checks the options and returns a Manager; nothing runs until Init or Run.
func New(opts Options) (*Manager, error) {
	switch {
	case opts.Client == nil:
		return nil, errors.New("self-managed TLS needs a Kubernetes client")
	case opts.Namespace == "" || opts.SecretName == "":
		return nil, errors.New("self-managed TLS needs the namespace and name of its Secret")
	case opts.ValidatingWebhookConfiguration == "" && opts.MutatingWebhookConfiguration == "":
		return nil, errors.New("self-managed TLS needs the name of a validating or mutating webhook configuration whose caBundle it keeps")
	case len(opts.Hosts) == 0:
		return nil, errors.New("self-managed TLS needs the host names the serving certificate names")
	case opts.CAValidity <= 0 || opts.CertValidity <= 0:
		return nil, fmt.Errorf("validities must be positive (CA %s, certificate %s)", opts.CAValidity, opts.CertValidity)
	case opts.CertValidity >= opts.CAValidity:
		return nil, fmt.Errorf("the certificate validity (%s) must be shorter than the CA's (%s)", opts.CertValidity, opts.CAValidity)
	case opts.CertDir == "":
		return nil, errors.New("self-managed TLS needs a directory to write the serving certificate into")
	}
	if opts.Settle <= 0 {
		opts.Settle = min(10*time.Second, opts.CAValidity/20)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{opts: opts, trigger: make(chan struct{}, 1), written: map[string][]byte{}}
	m.secrets = opts.Client.CoreV1().Secrets(opts.Namespace)
	if opts.ValidatingWebhookConfiguration != "" {
		m.configs = append(m.configs, namedConfiguration{opts.ValidatingWebhookConfiguration, validatingClient{opts.Client}})
	}
	if opts.MutatingWebhookConfiguration != "" {
		m.configs = append(m.configs, namedConfiguration{opts.MutatingWebhookConfiguration, mutatingClient{opts.Client}})
	}
	if opts.Served == nil {
		m.opts.Served = func(context.Context) (*x509.Certificate, error) { return m.certificateInDir() }
	}
	return m, nil
}

// Init brings the Secret and CertDir up to date, retrying until a serving certificate is
// in CertDir or ctx ends: the server cannot start without one.
func (m *Manager) Init(ctx context.Context) error {
	wait := 200 * time.Millisecond
	for {
		_, err := m.Reconcile(ctx)
		if m.hasCertificate() {
			if err != nil && !apierrors.IsConflict(err) {
				m.opts.Logger.Warn("self-managed TLS: serving certificate written, but the caBundle is not up to date yet", "error", err)
			}
			return nil
		}
		if apierrors.IsConflict(err) {
			// Another replica wrote first: use what it wrote.
			continue
		}
		m.opts.Logger.Warn("self-managed TLS: cannot prepare the serving certificate yet; retrying", "secret", m.secretRef(), "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("no serving certificate from Secret %s: %w", m.secretRef(), err)
		case <-m.opts.Clock.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// Run watches the Secret and the webhook configurations and reconciles whenever either
// changes or the schedule has something due, until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	stop := m.startInformers(ctx)
	defer stop()
	failures, conflicts := 0, 0
	for {
		next, err := m.Reconcile(ctx)
		now := m.opts.Clock.Now()
		wait := next.Sub(now)
		if !apierrors.IsConflict(err) {
			conflicts = 0
		}
		switch {
		case apierrors.IsConflict(err) && conflicts < 5:
			// Another replica wrote first, as happens whenever replicas act on the same
			// schedule: start over from what it wrote.
			conflicts++
			m.opts.Logger.Debug("self-managed TLS: another replica wrote first", "error", err)
			wait = 0
		case err != nil:
			failures++
			wait = min(time.Duration(1<<min(failures, 5))*time.Second/2, 15*time.Second)
			m.opts.Logger.Warn("self-managed TLS: reconcile failed; retrying", "error", err, "retryIn", wait.String())
		default:
			failures = 0
		}
		// Informers resync too, but a timer bounds how long a missed change can go unseen.
		wait = max(0, min(wait, 5*time.Minute))
		timer := m.opts.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-m.trigger:
		case <-timer.C():
		}
		timer.Stop()
	}
}

// Reconcile runs the schedule once: it reads the configurations, then the Secret,
// updates the Secret if something is due, writes CertDir and sets every caBundle.
// It returns when the schedule next has something to do. A conflict means another
// replica wrote first: call again.
func (m *Manager) Reconcile(ctx context.Context) (time.Time, error) {
	// The configurations are read before the Secret: a caBundle written below then
	// comes from a Secret at least as new as the one behind the caBundle read, and the
	// update fails if the configuration changed since (see the package documentation).
	configs := make([]configuration, 0, len(m.configs))
	for _, c := range m.configs {
		got, err := c.client.get(ctx, c.name)
		if err != nil {
			return m.opts.Clock.Now(), err
		}
		configs = append(configs, got)
	}
	m.observe(configs)
	secret, err := m.secrets.Get(ctx, m.opts.SecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return m.opts.Clock.Now(), fmt.Errorf("Secret %s does not exist: the chart creates it empty (kubectl -n %s create secret generic %s), or fix --tls-secret",
			m.secretRef(), m.opts.Namespace, m.opts.SecretName)
	}
	if err != nil {
		return m.opts.Clock.Now(), fmt.Errorf("read Secret %s: %w", m.secretRef(), err)
	}
	state, err := decodeState(secret.Data)
	if err != nil {
		// Never replace a CA the caBundle may hold: a person must look.
		return m.opts.Clock.Now(), fmt.Errorf("Secret %s is damaged (delete its data to start over with a new CA): %w", m.secretRef(), err)
	}
	in := m.input(state, configs)
	next, reasons, err := decide(state, in)
	if err != nil {
		return in.Now, err
	}
	if len(reasons) > 0 {
		updated := secret.DeepCopy()
		updated.Data = next.encodeInto(secret.Data)
		if _, err := m.secrets.Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			// On a conflict another replica wrote first; the next pass uses what it wrote.
			return in.Now, fmt.Errorf("update Secret %s: %w", m.secretRef(), err)
		}
		for _, r := range reasons {
			m.opts.Logger.Info("self-managed TLS: "+r, "secret", m.secretRef())
		}
		state = next
	}
	if err := m.writeCertDir(state); err != nil {
		return in.Now, err
	}
	if err := m.publish(ctx, configs, state); err != nil {
		return in.Now, err
	}
	return nextCheck(state, m.input(state, m.observedConfigurations())), nil
}

func (m *Manager) input(s secretState, configs []configuration) scheduleInput {
	in := scheduleInput{
		Now: m.opts.Clock.Now(), Hosts: m.opts.Hosts,
		CAValidity: m.opts.CAValidity, CertValidity: m.opts.CertValidity, Settle: m.opts.Settle,
	}
	if s.Next != nil {
		in.NextPublished = publishedEverywhere(configs, s.Next.Cert)
	}
	return in
}

// publish sets the caBundle of every webhook that does not hold exactly the state's CAs.
func (m *Manager) publish(ctx context.Context, configs []configuration, s secretState) error {
	want := s.Bundle()
	bundle := encodeBundle(want)
	for i, c := range configs {
		if c.Missing {
			continue
		}
		stale := false
		for _, w := range c.Webhooks {
			stale = stale || !sameCAs(w.CABundle, want)
		}
		if !stale {
			continue
		}
		updated, err := m.configs[i].client.setCABundle(ctx, c, bundle)
		if err != nil {
			return err
		}
		configs[i] = updated
		m.opts.Logger.Info("self-managed TLS: set caBundle", "configuration", c.String(), "cas", len(want))
	}
	m.observe(configs)
	var missing []string
	for _, c := range configs {
		if c.Missing {
			missing = append(missing, c.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot set caBundle: %v not found (it is created with the webhook's release)", missing)
	}
	return nil
}

// writeCertDir writes the serving certificate, its key and the CA bundle, each only when
// it changed, the key before the certificate so a reload never pairs a new certificate
// with an old key.
func (m *Manager) writeCertDir(s secretState) error {
	if s.Serving == nil {
		return nil
	}
	if err := os.MkdirAll(m.opts.CertDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", m.opts.CertDir, err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{serve.KeyFile, s.Serving.KeyPEM, 0o600},
		{serve.CAFile, s.BundlePEM(), 0o644},
		{serve.CertFile, s.Serving.CertPEM, 0o644},
	} {
		m.mu.Lock()
		same := bytes.Equal(m.written[f.name], f.data)
		m.mu.Unlock()
		if same {
			continue
		}
		if err := serve.WriteFileAtomic(filepath.Join(m.opts.CertDir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
		m.mu.Lock()
		m.written[f.name] = f.data
		m.mu.Unlock()
	}
	return nil
}

func (m *Manager) hasCertificate() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.written[serve.CertFile] != nil
}

func (m *Manager) certificateInDir() (*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(m.opts.CertDir, serve.CertFile))
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(data)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("no certificate in %s (%v)", filepath.Join(m.opts.CertDir, serve.CertFile), err)
	}
	return certs[0], nil
}

// observe remembers the configurations as last read or written, for readiness.
func (m *Manager) observe(configs []configuration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observed = slices.Clone(configs)
}

func (m *Manager) observedConfigurations() []configuration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.observed
}

// Ready reports whether the certificate the webhook serves is trusted by the caBundle of
// every webhook as last seen, and if not, why.
func (m *Manager) Ready(ctx context.Context) (bool, string) {
	configs := m.observedConfigurations()
	leaf, err := m.opts.Served(ctx)
	if err != nil {
		return false, fmt.Sprintf("cannot read the served certificate: %v", err)
	}
	if ok, why := trustedEverywhere(configs, leaf, m.opts.Hosts, m.opts.Clock.Now()); !ok {
		return false, why
	}
	return true, "the served certificate is trusted by every webhook's caBundle"
}

// startInformers watches the Secret and the configurations, each restricted to its
// name with a field selector, and triggers a reconcile on every change.
func (m *Manager) startInformers(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	byName := func(name string) func(*metav1.ListOptions) {
		return func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}
	}
	const resync = 10 * time.Minute
	informers := []cache.SharedIndexInformer{
		coreinformers.NewFilteredSecretInformer(m.opts.Client, m.opts.Namespace, resync, cache.Indexers{}, byName(m.opts.SecretName)),
	}
	if n := m.opts.ValidatingWebhookConfiguration; n != "" {
		informers = append(informers, admissioninformers.NewFilteredValidatingWebhookConfigurationInformer(m.opts.Client, resync, cache.Indexers{}, byName(n)))
	}
	if n := m.opts.MutatingWebhookConfiguration; n != "" {
		informers = append(informers, admissioninformers.NewFilteredMutatingWebhookConfigurationInformer(m.opts.Client, resync, cache.Indexers{}, byName(n)))
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { m.poke() },
		UpdateFunc: func(any, any) { m.poke() },
		DeleteFunc: func(any) { m.poke() },
	}
	var wg sync.WaitGroup
	for _, inf := range informers {
		if _, err := inf.AddEventHandler(handler); err != nil {
			m.opts.Logger.Error("self-managed TLS: cannot watch", "error", err)
		}
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	return func() { cancel(); wg.Wait() }
}

// poke asks Run for a reconcile without blocking; one pending request is enough.
func (m *Manager) poke() {
	select {
	case m.trigger <- struct{}{}:
	default:
	}
}

func (m *Manager) secretRef() string { return m.opts.Namespace + "/" + m.opts.SecretName }
