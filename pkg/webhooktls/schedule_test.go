package webhooktls

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is the time the schedule is asked at; tests move it forward.
type fakeClock struct{ now time.Time }

func (c *fakeClock) step(d time.Duration) time.Time { return c.set(c.now.Add(d)) }
func (c *fakeClock) set(t time.Time) time.Time {
	if t.Before(c.now) {
		panic("the clock only moves forward")
	}
	c.now = t
	return t
}

func input(now time.Time, published bool) scheduleInput {
	return scheduleInput{Now: now, Hosts: []string{"bailiff-webhook.bailiff.svc", "127.0.0.1"},
		CAValidity: 90 * time.Minute, CertValidity: 15 * time.Minute, Settle: 10 * time.Second, NextPublished: published}
}

// decide runs the schedule and fails the test on an error.
func mustDecide(t *testing.T, s secretState, in scheduleInput) (secretState, []string) {
	t.Helper()
	next, reasons, err := decide(s, in)
	if err != nil {
		t.Fatal(err)
	}
	return next, reasons
}

func wantReason(t *testing.T, reasons []string, fragment string) {
	t.Helper()
	for _, r := range reasons {
		if strings.Contains(r, fragment) {
			return
		}
	}
	t.Fatalf("want a reason containing %q, got %q", fragment, reasons)
}

func wantNothingDue(t *testing.T, s secretState, in scheduleInput) {
	t.Helper()
	if _, reasons := mustDecide(t, s, in); len(reasons) > 0 {
		t.Fatalf("at %s nothing should be due, got %q", in.Now.Sub(t0), reasons)
	}
}

func fingerprints(certs []*x509.Certificate) []string {
	var out []string
	for _, c := range certs {
		out = append(out, fingerprint(c)[:12])
	}
	return out
}

func TestAnEmptySecretGetsACAAndAServingCertificateSignedByIt(t *testing.T) {
	s, reasons := mustDecide(t, secretState{}, input(t0, false))
	wantReason(t, reasons, "created one")
	if s.Signing == nil || s.Serving == nil || s.Next != nil || s.Retired != nil {
		t.Fatalf("want a signing CA and a serving certificate only, got %+v", s)
	}
	if !signedBy(s.Serving.Cert, s.Signing.Cert) || !covers(s.Serving.Cert, input(t0, false).Hosts) {
		t.Fatal("the serving certificate must be signed by the CA and name every host")
	}
	if got := s.Serving.Cert.NotAfter; !got.Equal(t0.Add(15 * time.Minute)) {
		t.Errorf("serving certificate NotAfter = %s, want now + 15m", got)
	}
	if len(s.Bundle()) != 1 {
		t.Errorf("bundle = %v, want the one CA", fingerprints(s.Bundle()))
	}
}

func TestTheServingCertificateIsRenewedAtTwoThirdsOfItsLife(t *testing.T) {
	clock := &fakeClock{now: t0}
	s, _ := mustDecide(t, secretState{}, input(clock.now, false))
	first := s.Serving
	renewAt := renewAt(first)
	// Its life runs from NotBefore (backdated a tenth of 15m) to NotAfter.
	if want := first.Cert.NotBefore.Add(2 * (16*time.Minute + 30*time.Second) / 3); !renewAt.Equal(want) {
		t.Fatalf("renewAt = %s, want %s", renewAt, want)
	}
	if got := nextCheck(s, input(clock.now, false)); !got.Equal(renewAt) {
		t.Errorf("nextCheck = %s, want the renewal at %s", got, renewAt)
	}
	wantNothingDue(t, s, input(clock.set(renewAt.Add(-time.Second)), false))
	s, reasons := mustDecide(t, s, input(clock.set(renewAt), false))
	wantReason(t, reasons, "two thirds through its life")
	if s.Serving.Cert.Equal(first.Cert) || !signedBy(s.Serving.Cert, s.Signing.Cert) {
		t.Fatal("want a new serving certificate from the same CA")
	}
}

// TestCARotation walks a CA through its whole rotation on a fake clock and checks, at
// every step, that every serving certificate issued so far and not expired is trusted by
// the bundle: whichever a replica still serves, the API server accepts.
func TestCARotation(t *testing.T) {
	clock := &fakeClock{now: t0}
	var issued []*x509.Certificate
	s, _ := mustDecide(t, secretState{}, input(clock.now, false))
	first := s.Signing
	published := false
	advance := func(to time.Time) []string {
		t.Helper()
		clock.set(to)
		next, reasons := mustDecide(t, s, input(clock.now, published))
		s = next
		if s.Serving != nil && (len(issued) == 0 || !issued[len(issued)-1].Equal(s.Serving.Cert)) {
			issued = append(issued, s.Serving.Cert)
		}
		checkEveryLiveCertificateIsTrusted(t, s, issued, clock.now)
		return reasons
	}
	advance(t0)

	// Renewals until two thirds of the CA's life: the same CA signs them all.
	rotateAt := rotateAt(first)
	for clock.now.Before(rotateAt) {
		next := nextCheck(s, input(clock.now, false))
		if next.After(rotateAt) {
			next = rotateAt
		}
		advance(next)
	}
	if s.Next == nil {
		t.Fatalf("at %s (two thirds of the CA's life) a next CA should exist", clock.now.Sub(t0))
	}
	if got := fingerprints(s.Bundle()); len(got) != 2 {
		t.Fatalf("during rotation the bundle must hold the old and the new CA, got %v", got)
	}
	if !signedBy(s.Serving.Cert, first.Cert) {
		t.Fatal("the next CA must not sign before it is published")
	}

	// Not published yet: it never signs, however long we wait.
	for range 3 {
		reasons := advance(clock.now.Add(time.Minute))
		for _, r := range reasons {
			if strings.Contains(r, "signs from now on") {
				t.Fatalf("promoted a CA that is not in every caBundle: %q", reasons)
			}
		}
	}

	// Published: noted, then promoted only once it has settled.
	published = true
	wantReason(t, advance(clock.now.Add(time.Second)), "in every webhook's caBundle")
	publishedAt := s.NextPublishedAt
	if got := nextCheck(s, input(clock.now, true)); !got.Equal(publishedAt.Add(10 * time.Second)) {
		t.Errorf("nextCheck = %s, want the end of the settle time %s", got, publishedAt.Add(10*time.Second))
	}
	wantNothingDue(t, s, input(publishedAt.Add(9*time.Second), true))
	lastOfOld := s.Serving.Cert
	wantReason(t, advance(publishedAt.Add(10*time.Second)), "signs from now on")
	if !s.Signing.Cert.Equal(s.Bundle()[0]) || s.Retired == nil || !s.Retired.Equal(first.Cert) {
		t.Fatalf("after promotion the next CA signs and the old one is retired, got %+v", s)
	}
	if !s.RetiredUntil.Equal(lastOfOld.NotAfter) {
		t.Errorf("the old CA is kept until %s, want the last certificate it signed to expire at %s", s.RetiredUntil, lastOfOld.NotAfter)
	}
	if signedBy(s.Serving.Cert, first.Cert) || !signedBy(s.Serving.Cert, s.Signing.Cert) {
		t.Fatal("after promotion the serving certificate comes from the new CA")
	}

	// The old CA leaves the bundle when its last certificate expires, not before.
	for clock.now.Before(lastOfOld.NotAfter.Add(-time.Second)) {
		next := nextCheck(s, input(clock.now, true))
		if limit := lastOfOld.NotAfter.Add(-time.Second); next.After(limit) {
			next = limit
		}
		advance(next)
		if s.Retired == nil {
			t.Fatalf("at %s the old CA was dropped before its last certificate expired at %s", clock.now.Sub(t0), lastOfOld.NotAfter.Sub(t0))
		}
	}
	if got := nextCheck(s, input(clock.now, true)); got.After(lastOfOld.NotAfter) {
		t.Errorf("nextCheck = %s, want no later than the drop at %s", got.Sub(t0), lastOfOld.NotAfter.Sub(t0))
	}
	wantReason(t, advance(lastOfOld.NotAfter), "dropped it from caBundle")
	if got := fingerprints(s.Bundle()); len(got) != 1 {
		t.Fatalf("after the drop the bundle holds the new CA only, got %v", got)
	}
}

func checkEveryLiveCertificateIsTrusted(t *testing.T, s secretState, issued []*x509.Certificate, now time.Time) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range s.Bundle() {
		pool.AddCert(c)
	}
	for _, c := range issued {
		if !now.Before(c.NotAfter) {
			continue
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now}); err != nil {
			t.Fatalf("at %s a certificate some replica may serve (serial %x, expires %s) is not trusted by the bundle %v: %v",
				now.Sub(t0), c.SerialNumber, c.NotAfter, fingerprints(s.Bundle()), err)
		}
	}
}

func TestAResetCaBundleRestartsTheWaitBeforePromotion(t *testing.T) {
	clock := &fakeClock{now: t0}
	s, _ := mustDecide(t, secretState{}, input(clock.now, false))
	s, _ = mustDecide(t, s, input(clock.set(rotateAt(s.Signing)), false))
	s, _ = mustDecide(t, s, input(clock.step(time.Second), true))
	if s.NextPublishedAt.IsZero() {
		t.Fatal("publication not noted")
	}
	s, reasons := mustDecide(t, s, input(clock.step(5*time.Second), false))
	wantReason(t, reasons, "missing from a webhook's caBundle again")
	if !s.NextPublishedAt.IsZero() {
		t.Fatal("the wait must restart")
	}
	s, _ = mustDecide(t, s, input(clock.step(time.Second), true))
	wantNothingDue(t, s, input(clock.step(9*time.Second), true))
}

func TestServingCertificatesNeverOutliveTheirCA(t *testing.T) {
	clock := &fakeClock{now: t0}
	s, _ := mustDecide(t, secretState{}, input(clock.now, false))
	// Near the CA's end, with rotation unable to finish (never published).
	s, _ = mustDecide(t, s, input(clock.set(s.Signing.Cert.NotAfter.Add(-5*time.Minute)), false))
	if s.Serving.Cert.NotAfter.After(s.Signing.Cert.NotAfter) {
		t.Fatalf("serving certificate ends %s, after its CA %s", s.Serving.Cert.NotAfter, s.Signing.Cert.NotAfter)
	}
	// Renewing one that already ends with its CA gains nothing.
	wantNothingDue(t, s, input(clock.set(renewAt(s.Serving)), false))
}

func TestAnExpiredSigningCAIsReplaced(t *testing.T) {
	for _, tc := range []struct {
		name       string
		withNext   bool
		wantReason string
	}{
		{"by the next CA when rotation had begun", true, "signing with the next CA now"},
		{"by a new CA when it had not", false, "created a new one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			s, _ := mustDecide(t, secretState{}, input(clock.now, false))
			old := s.Signing
			if tc.withNext {
				s, _ = mustDecide(t, s, input(clock.set(rotateAt(s.Signing)), false))
			}
			next := s.Next
			s, reasons := mustDecide(t, s, input(clock.set(old.Cert.NotAfter), false))
			wantReason(t, reasons, tc.wantReason)
			if s.Signing.Cert.Equal(old.Cert) || (tc.withNext && !s.Signing.Cert.Equal(next.Cert)) {
				t.Fatal("wrong signing CA after expiry")
			}
			if !signedBy(s.Serving.Cert, s.Signing.Cert) || len(s.Bundle()) != 1 {
				t.Fatal("want one CA and a serving certificate it signed")
			}
		})
	}
}

func TestANewHostNameGetsANewServingCertificate(t *testing.T) {
	s, _ := mustDecide(t, secretState{}, input(t0, false))
	in := input(t0.Add(time.Minute), false)
	in.Hosts = append(in.Hosts, "bailiff-webhook.bailiff.svc.cluster.local")
	s, reasons := mustDecide(t, s, in)
	wantReason(t, reasons, "does not name all of")
	if !covers(s.Serving.Cert, in.Hosts) {
		t.Fatal("the new certificate must name every host")
	}
}
