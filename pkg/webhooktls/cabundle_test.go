package webhooktls

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/serve"
)

// rotating returns a state in the middle of a rotation: signing, next and retired CAs.
func rotating(t *testing.T) secretState {
	t.Helper()
	s := secretState{}
	var err error
	for _, ca := range []**serve.KeyPair{&s.Signing, &s.Next} {
		if *ca, err = serve.NewCA(t0, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	retired, err := serve.NewCA(t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.Retired, s.RetiredUntil = retired.Cert, t0.Add(time.Minute)
	if s.Serving, err = serve.IssueServing(s.Signing, []string{"h"}, t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTheBundleIsTheUnionOfSigningNextAndRetiredCAs(t *testing.T) {
	s := rotating(t)
	for _, tc := range []struct {
		name  string
		state secretState
		want  []*x509.Certificate
	}{
		{"an empty state trusts nothing", secretState{}, nil},
		{"a settled state trusts its CA", secretState{Signing: s.Signing}, []*x509.Certificate{s.Signing.Cert}},
		{"a rotation in progress trusts old and new", secretState{Signing: s.Signing, Next: s.Next}, []*x509.Certificate{s.Signing.Cert, s.Next.Cert}},
		{"after promotion the retired CA is still trusted", secretState{Signing: s.Next, Retired: s.Signing.Cert}, []*x509.Certificate{s.Next.Cert, s.Signing.Cert}},
		{"all three at once", s, []*x509.Certificate{s.Signing.Cert, s.Next.Cert, s.Retired}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.state.Bundle()
			if len(got) != len(tc.want) {
				t.Fatalf("bundle has %d CAs, want %d", len(got), len(tc.want))
			}
			if !sameCAs(tc.state.BundlePEM(), tc.want) {
				t.Fatal("the PEM bundle does not hold exactly the wanted CAs")
			}
		})
	}
}

func TestSameCAsIgnoresOrderButNotExtraOrMissingCAs(t *testing.T) {
	s := rotating(t)
	a, b := s.Signing.Cert, s.Next.Cert
	for _, tc := range []struct {
		name   string
		bundle []byte
		want   []*x509.Certificate
		same   bool
	}{
		{"the same CAs in another order", encodeBundle([]*x509.Certificate{b, a}), []*x509.Certificate{a, b}, true},
		{"a CA too many", encodeBundle([]*x509.Certificate{a, b}), []*x509.Certificate{a}, false},
		{"a CA missing", encodeBundle([]*x509.Certificate{a}), []*x509.Certificate{a, b}, false},
		{"an empty caBundle", nil, []*x509.Certificate{a}, false},
		{"garbage", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []*x509.Certificate{a}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameCAs(tc.bundle, tc.want); got != tc.same {
				t.Fatalf("sameCAs = %v, want %v", got, tc.same)
			}
		})
	}
}

func TestTheNextCAIsPublishedOnlyWhenEveryWebhookHoldsIt(t *testing.T) {
	s := rotating(t)
	both := encodeBundle([]*x509.Certificate{s.Signing.Cert, s.Next.Cert})
	old := encodeBundle([]*x509.Certificate{s.Signing.Cert})
	config := func(kind string, bundles ...[]byte) configuration {
		c := configuration{Kind: kind, Name: "bailiff"}
		for i, b := range bundles {
			c.Webhooks = append(c.Webhooks, webhookBundle{Webhook: kind + string(rune('a'+i)), CABundle: b})
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		configs []configuration
		want    bool
	}{
		{"every webhook of both configurations", []configuration{config("V", both, both), config("M", both)}, true},
		{"one webhook still has the old bundle", []configuration{config("V", both, old), config("M", both)}, false},
		{"a configuration is missing", []configuration{config("V", both), {Kind: "M", Name: "bailiff", Missing: true}}, false},
		{"a configuration has no webhooks", []configuration{config("V", both), config("M")}, false},
		{"no configurations at all", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := publishedEverywhere(tc.configs, s.Next.Cert); got != tc.want {
				t.Fatalf("publishedEverywhere = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTrustedEverywhereNamesTheWebhookThatDoesNotTrust(t *testing.T) {
	s := rotating(t)
	good := configuration{Kind: "ValidatingWebhookConfiguration", Name: "bailiff",
		Webhooks: []webhookBundle{{Webhook: "validate.bailiff.io", CABundle: s.BundlePEM()}}}
	bad := configuration{Kind: "MutatingWebhookConfiguration", Name: "bailiff",
		Webhooks: []webhookBundle{{Webhook: "mutate.bailiff.io", CABundle: encodeBundle([]*x509.Certificate{s.Next.Cert})}}}
	now := t0.Add(time.Second)
	if ok, why := trustedEverywhere([]configuration{good}, s.Serving.Cert, []string{"h"}, now); !ok {
		t.Fatalf("want trusted, got %s", why)
	}
	ok, why := trustedEverywhere([]configuration{good, bad}, s.Serving.Cert, []string{"h"}, now)
	if ok || !strings.Contains(why, "mutate.bailiff.io") {
		t.Fatalf("want untrusted naming mutate.bailiff.io, got %v %q", ok, why)
	}
	if ok, _ := trustedEverywhere([]configuration{good}, s.Serving.Cert, []string{"h"}, s.Serving.Cert.NotAfter.Add(time.Second)); ok {
		t.Fatal("an expired serving certificate must not count as trusted")
	}
}

func TestTheSecretRoundTrips(t *testing.T) {
	s := rotating(t)
	s.NextPublishedAt = t0.Add(time.Second)
	got, err := decodeState(s.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Signing.Cert.Equal(s.Signing.Cert) || !got.Next.Cert.Equal(s.Next.Cert) || !got.Retired.Equal(s.Retired) ||
		!got.Serving.Cert.Equal(s.Serving.Cert) || !got.NextPublishedAt.Equal(s.NextPublishedAt) || !got.RetiredUntil.Equal(s.RetiredUntil) {
		t.Fatalf("decoded state differs:\n%+v\n%+v", got, s)
	}
	if empty, err := decodeState(map[string][]byte{}); err != nil || !empty.Empty() {
		t.Fatalf("an empty Secret decodes as the empty state, got %+v, %v", empty, err)
	}
}

func TestWritingTheSecretKeepsOtherKeysAndDropsFinishedRotation(t *testing.T) {
	s := rotating(t)
	data := s.encode()
	data["note"] = []byte("added by a person")
	settled := secretState{Signing: s.Signing, Serving: s.Serving}
	got := settled.encodeInto(data)
	if string(got["note"]) != "added by a person" {
		t.Error("a key the Manager does not own was dropped")
	}
	for _, k := range []string{KeyNextCert, KeyNextKey, KeyRetiredCert, KeyRetiredUntil} {
		if _, ok := got[k]; ok {
			t.Errorf("%s survived the end of the rotation", k)
		}
	}
	if countPEM := strings.Count(string(got[KeyCABundle]), "BEGIN CERTIFICATE"); countPEM != 1 {
		t.Errorf("ca.crt holds %d CAs, want 1", countPEM)
	}
}
