package webhooktls

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"maps"
	"time"

	"github.com/bailiff/bailiff/pkg/serve"
)

// Keys of the Secret shared by the webhook's replicas. tls.crt, tls.key and ca.crt
// follow cert-manager's layout, so anything that reads a webhook Secret (a
// ServiceMonitor verifying the webhook, a person with kubectl) finds them where it looks.
const (
	KeyServingCert     = "tls.crt"              // the serving certificate every replica serves
	KeyServingKey      = "tls.key"              // its private key
	KeyCABundle        = "ca.crt"               // every CA clients must trust: what caBundle holds
	KeySigningCert     = "ca-signing.crt"       // the CA that signs serving certificates
	KeySigningKey      = "ca-signing.key"       // its private key
	KeyNextCert        = "ca-next.crt"          // the CA that will sign next, published but not signing yet
	KeyNextKey         = "ca-next.key"          // its private key
	KeyNextPublishedAt = "ca-next-published-at" // when ca-next.crt was first seen in every caBundle (RFC 3339)
	KeyRetiredCert     = "ca-retired.crt"       // the CA that signed before ca-signing.crt, still trusted
	KeyRetiredUntil    = "ca-retired-until"     // when the last certificate it signed expires (RFC 3339)
)

// secretState is what the Secret holds: the CAs and the serving certificate.
type secretState struct {
	// Signing signs serving certificates.
	Signing *serve.KeyPair
	// Next is the CA that replaces Signing: it is published in caBundle beside Signing
	// before it signs anything.
	Next *serve.KeyPair
	// NextPublishedAt is when Next was first seen in the caBundle of every webhook; zero
	// while it is not.
	NextPublishedAt time.Time
	// Retired is the CA Signing replaced. It stays trusted until RetiredUntil, when the
	// last serving certificate it signed expires: until then a replica may still serve it.
	Retired      *x509.Certificate
	RetiredUntil time.Time
	// Serving is the certificate every replica serves.
	Serving *serve.KeyPair
}

// Empty reports whether the state holds no CA yet: a Secret nobody has filled.
func (s secretState) Empty() bool { return s.Signing == nil }

// Bundle is every CA that may have signed a certificate some replica serves, or soon
// will: the signing CA, the next one once it exists, and the retired one until its last
// certificate expires. It is the union that goes into every webhook's caBundle.
func (s secretState) Bundle() []*x509.Certificate {
	var out []*x509.Certificate
	if s.Signing != nil {
		out = append(out, s.Signing.Cert)
	}
	if s.Next != nil {
		out = append(out, s.Next.Cert)
	}
	if s.Retired != nil {
		out = append(out, s.Retired)
	}
	return out
}

// BundlePEM is Bundle in PEM, as caBundle and ca.crt hold it.
func (s secretState) BundlePEM() []byte {
	return encodeBundle(s.Bundle())
}

func encodeBundle(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		b.Write(pemCert(c))
	}
	return b.Bytes()
}

// decodeState reads the Secret's data. A Secret without a signing CA decodes as the
// empty secretState; one that holds a signing CA but is otherwise damaged is an error, so a
// damaged Secret is never silently replaced by a new CA nobody trusts yet.
func decodeState(data map[string][]byte) (secretState, error) {
	var s secretState
	if len(data[KeySigningCert]) == 0 && len(data[KeySigningKey]) == 0 {
		return s, nil
	}
	var err error
	if s.Signing, err = parseKeyPair(data[KeySigningCert], data[KeySigningKey]); err != nil {
		return secretState{}, fmt.Errorf("%s and %s: %w", KeySigningCert, KeySigningKey, err)
	}
	if len(data[KeyNextCert]) > 0 {
		if s.Next, err = parseKeyPair(data[KeyNextCert], data[KeyNextKey]); err != nil {
			return secretState{}, fmt.Errorf("%s and %s: %w", KeyNextCert, KeyNextKey, err)
		}
		if s.NextPublishedAt, err = parseTime(data[KeyNextPublishedAt]); err != nil {
			return secretState{}, fmt.Errorf("%s: %w", KeyNextPublishedAt, err)
		}
	}
	if len(data[KeyRetiredCert]) > 0 {
		certs, err := parseCertificates(data[KeyRetiredCert])
		if err != nil || len(certs) != 1 {
			return secretState{}, fmt.Errorf("%s: want one certificate (%v)", KeyRetiredCert, err)
		}
		s.Retired = certs[0]
		if s.RetiredUntil, err = parseTime(data[KeyRetiredUntil]); err != nil || s.RetiredUntil.IsZero() {
			return secretState{}, fmt.Errorf("%s: want an RFC 3339 time (%v)", KeyRetiredUntil, err)
		}
	}
	// A missing or damaged serving certificate is simply issued again.
	if serving, err := parseKeyPair(data[KeyServingCert], data[KeyServingKey]); err == nil {
		s.Serving = serving
	}
	return s, nil
}

// encodeInto returns the Secret's data with the state in place of the keys above; keys
// someone else added are kept.
func (s secretState) encodeInto(data map[string][]byte) map[string][]byte {
	out := maps.Clone(data)
	if out == nil {
		out = map[string][]byte{}
	}
	for _, k := range []string{KeyServingCert, KeyServingKey, KeyCABundle, KeySigningCert, KeySigningKey,
		KeyNextCert, KeyNextKey, KeyNextPublishedAt, KeyRetiredCert, KeyRetiredUntil} {
		delete(out, k)
	}
	maps.Copy(out, s.encode())
	return out
}

// encode writes the state as the Secret's data.
func (s secretState) encode() map[string][]byte {
	data := map[string][]byte{}
	if s.Signing == nil {
		return data
	}
	data[KeySigningCert], data[KeySigningKey] = s.Signing.CertPEM, s.Signing.KeyPEM
	data[KeyCABundle] = s.BundlePEM()
	if s.Next != nil {
		data[KeyNextCert], data[KeyNextKey] = s.Next.CertPEM, s.Next.KeyPEM
		if !s.NextPublishedAt.IsZero() {
			data[KeyNextPublishedAt] = []byte(s.NextPublishedAt.UTC().Format(time.RFC3339Nano))
		}
	}
	if s.Retired != nil {
		data[KeyRetiredCert] = pemCert(s.Retired)
		data[KeyRetiredUntil] = []byte(s.RetiredUntil.UTC().Format(time.RFC3339Nano))
	}
	if s.Serving != nil {
		data[KeyServingCert], data[KeyServingKey] = s.Serving.CertPEM, s.Serving.KeyPEM
	}
	return data
}

func parseTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, string(b))
}
