package webhooktls

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// webhookBundle is the caBundle of one webhook of a configuration.
type webhookBundle struct {
	Webhook  string
	CABundle []byte
}

// configuration is a validating or mutating webhook configuration as far as caBundle
// goes. Missing is true when it does not exist (yet, or any more).
type configuration struct {
	Kind, Name string
	Missing    bool
	Webhooks   []webhookBundle

	object any // *ValidatingWebhookConfiguration or *MutatingWebhookConfiguration, for updates
}

func (c configuration) String() string { return c.Kind + " " + c.Name }

// sameCAs reports whether a caBundle holds exactly the certificates of want, in any
// order. A caBundle that cannot be read holds nothing we want.
func sameCAs(caBundle []byte, want []*x509.Certificate) bool {
	have, err := parseCertificates(caBundle)
	if err != nil || len(have) != len(want) {
		return false
	}
	for _, w := range want {
		if !holds(have, w) {
			return false
		}
	}
	return true
}

func holds(certs []*x509.Certificate, c *x509.Certificate) bool {
	return slices.ContainsFunc(certs, func(h *x509.Certificate) bool { return h.Equal(c) })
}

// publishedEverywhere reports whether every webhook of every configuration trusts ca.
// A missing configuration, or one without webhooks, publishes nothing.
func publishedEverywhere(configs []configuration, ca *x509.Certificate) bool {
	for _, c := range configs {
		if c.Missing || len(c.Webhooks) == 0 {
			return false
		}
		for _, w := range c.Webhooks {
			certs, err := parseCertificates(w.CABundle)
			if err != nil || !holds(certs, ca) {
				return false
			}
		}
	}
	return len(configs) > 0
}

// trustedEverywhere says whether the caBundle of every webhook verifies leaf for the
// first of hosts at now, and if not, which webhook does not.
func trustedEverywhere(configs []configuration, leaf *x509.Certificate, hosts []string, now time.Time) (bool, string) {
	if len(configs) == 0 {
		return false, "no webhook configuration observed yet"
	}
	for _, c := range configs {
		if c.Missing {
			return false, fmt.Sprintf("%s does not exist", c)
		}
		for _, w := range c.Webhooks {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(w.CABundle) {
				return false, fmt.Sprintf("webhook %s of %s has no caBundle yet", w.Webhook, c)
			}
			opts := x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			if len(hosts) > 0 {
				opts.DNSName = hosts[0]
			}
			if _, err := leaf.Verify(opts); err != nil {
				return false, fmt.Sprintf("webhook %s of %s does not trust the served certificate yet: %v", w.Webhook, c, err)
			}
		}
	}
	return true, ""
}

// configurationClient reads and writes one kind of webhook configuration.
type configurationClient interface {
	get(ctx context.Context, name string) (configuration, error)
	// setCABundle sets the caBundle of every webhook, with the resourceVersion read by
	// get as precondition: a configuration changed since fails with a conflict.
	setCABundle(ctx context.Context, c configuration, caBundle []byte) (configuration, error)
}

type validatingClient struct{ client kubernetes.Interface }

func (v validatingClient) get(ctx context.Context, name string) (configuration, error) {
	obj, err := v.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return configuration{Kind: "ValidatingWebhookConfiguration", Name: name, Missing: true}, nil
	}
	if err != nil {
		return configuration{}, fmt.Errorf("get ValidatingWebhookConfiguration %s: %w", name, err)
	}
	return validatingConfiguration(obj), nil
}

func (v validatingClient) setCABundle(ctx context.Context, c configuration, caBundle []byte) (configuration, error) {
	obj := c.object.(*admissionregistrationv1.ValidatingWebhookConfiguration).DeepCopy()
	for i := range obj.Webhooks {
		obj.Webhooks[i].ClientConfig.CABundle = caBundle
	}
	updated, err := v.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, obj, metav1.UpdateOptions{})
	if err != nil {
		return configuration{}, fmt.Errorf("update the caBundle of %s: %w", c, err)
	}
	return validatingConfiguration(updated), nil
}

func validatingConfiguration(obj *admissionregistrationv1.ValidatingWebhookConfiguration) configuration {
	c := configuration{Kind: "ValidatingWebhookConfiguration", Name: obj.Name, object: obj}
	for _, w := range obj.Webhooks {
		c.Webhooks = append(c.Webhooks, webhookBundle{Webhook: w.Name, CABundle: w.ClientConfig.CABundle})
	}
	return c
}

type mutatingClient struct{ client kubernetes.Interface }

func (m mutatingClient) get(ctx context.Context, name string) (configuration, error) {
	obj, err := m.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return configuration{Kind: "MutatingWebhookConfiguration", Name: name, Missing: true}, nil
	}
	if err != nil {
		return configuration{}, fmt.Errorf("get MutatingWebhookConfiguration %s: %w", name, err)
	}
	return mutatingConfiguration(obj), nil
}

func (m mutatingClient) setCABundle(ctx context.Context, c configuration, caBundle []byte) (configuration, error) {
	obj := c.object.(*admissionregistrationv1.MutatingWebhookConfiguration).DeepCopy()
	for i := range obj.Webhooks {
		obj.Webhooks[i].ClientConfig.CABundle = caBundle
	}
	updated, err := m.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, obj, metav1.UpdateOptions{})
	if err != nil {
		return configuration{}, fmt.Errorf("update the caBundle of %s: %w", c, err)
	}
	return mutatingConfiguration(updated), nil
}

func mutatingConfiguration(obj *admissionregistrationv1.MutatingWebhookConfiguration) configuration {
	c := configuration{Kind: "MutatingWebhookConfiguration", Name: obj.Name, object: obj}
	for _, w := range obj.Webhooks {
		c.Webhooks = append(c.Webhooks, webhookBundle{Webhook: w.Name, CABundle: w.ClientConfig.CABundle})
	}
	return c
}
