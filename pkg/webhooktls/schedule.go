package webhooktls

import (
	"fmt"
	"time"

	"github.com/bailiff/bailiff/pkg/serve"
)

// scheduleInput is everything a decision needs besides the state: the time, what this
// replica was asked for, and what the API server shows of the caBundles.
type scheduleInput struct {
	Now          time.Time
	Hosts        []string
	CAValidity   time.Duration
	CertValidity time.Duration
	// Settle is how long the next CA must have been in every caBundle before it signs:
	// time for every API server to reload the webhook configurations it watches.
	Settle time.Duration
	// NextPublished reports whether the caBundle of every webhook holds the next CA.
	NextPublished bool
}

// A step changes the state when its condition holds and says why; it returns "" when
// the condition does not hold. Steps run in order, each on the result of the last.
type step func(s *secretState, in scheduleInput) (reason string, err error)

// steps is the whole schedule. Each is a small function named for its condition.
var steps = []step{
	createCAWhenEmpty,
	replaceExpiredSigningCA,
	dropRetiredCAWhenItsLastCertificateExpired,
	startRotationAtTwoThirdsOfCALife,
	notePublicationOfNextCA,
	promoteNextCAOncePublishedAndSettled,
	issueServingCertificateWhenMissingOrDue,
}

// decide applies the schedule to s and returns the new state with the reasons for
// every change; no reasons means nothing is due.
func decide(s secretState, in scheduleInput) (secretState, []string, error) {
	var reasons []string
	for _, st := range steps {
		reason, err := st(&s, in)
		if err != nil {
			return secretState{}, nil, err
		}
		if reason != "" {
			reasons = append(reasons, reason)
		}
	}
	return s, reasons, nil
}

func createCAWhenEmpty(s *secretState, in scheduleInput) (string, error) {
	if !s.Empty() {
		return "", nil
	}
	ca, err := serve.NewCA(in.Now, in.CAValidity)
	if err != nil {
		return "", err
	}
	*s = secretState{Signing: ca}
	return "no CA yet: created one", nil
}

// replaceExpiredSigningCA recovers from a signing CA that expired, which happens only
// when rotation could not run (the webhook was down for longer than a third of the CA's
// life, or the caBundle could never be published). Whatever it signed is invalid now,
// so nothing is lost by signing at once with the next CA, or a new one.
func replaceExpiredSigningCA(s *secretState, in scheduleInput) (string, error) {
	if in.Now.Before(s.Signing.Cert.NotAfter) {
		return "", nil
	}
	expired := s.Signing.Cert.NotAfter
	if s.Next != nil && in.Now.Before(s.Next.Cert.NotAfter) {
		*s = secretState{Signing: s.Next}
		return fmt.Sprintf("the signing CA expired at %s before rotation finished: signing with the next CA now", expired.Format(time.RFC3339)), nil
	}
	ca, err := serve.NewCA(in.Now, in.CAValidity)
	if err != nil {
		return "", err
	}
	*s = secretState{Signing: ca}
	return fmt.Sprintf("the signing CA expired at %s: created a new one", expired.Format(time.RFC3339)), nil
}

// dropRetiredCAWhenItsLastCertificateExpired stops trusting the previous CA once no
// replica can be serving a certificate it signed.
func dropRetiredCAWhenItsLastCertificateExpired(s *secretState, in scheduleInput) (string, error) {
	if s.Retired == nil || (in.Now.Before(s.RetiredUntil) && in.Now.Before(s.Retired.NotAfter)) {
		return "", nil
	}
	s.Retired, s.RetiredUntil = nil, time.Time{}
	return "the last certificate the previous CA signed has expired: dropped it from caBundle", nil
}

// rotateAt is when rotation of ca begins: two thirds into its life, which leaves a third
// for publishing the next CA and for the certificates ca signed to expire.
func rotateAt(ca *serve.KeyPair) time.Time { return lifeFraction(ca.Cert, 2, 3) }

func startRotationAtTwoThirdsOfCALife(s *secretState, in scheduleInput) (string, error) {
	// A retired CA still trusted means the last rotation has not finished.
	if s.Next != nil || s.Retired != nil || in.Now.Before(rotateAt(s.Signing)) {
		return "", nil
	}
	next, err := serve.NewCA(in.Now, in.CAValidity)
	if err != nil {
		return "", err
	}
	s.Next, s.NextPublishedAt = next, time.Time{}
	return fmt.Sprintf("the signing CA expires at %s: created the next CA, to be published beside it before it signs",
		s.Signing.Cert.NotAfter.Format(time.RFC3339)), nil
}

// notePublicationOfNextCA records when the next CA was first seen in every caBundle,
// and forgets it if a caBundle lost it again (someone reset it), so the wait restarts.
func notePublicationOfNextCA(s *secretState, in scheduleInput) (string, error) {
	switch {
	case s.Next == nil:
		return "", nil
	case in.NextPublished && s.NextPublishedAt.IsZero():
		s.NextPublishedAt = in.Now
		return "the next CA is in every webhook's caBundle", nil
	case !in.NextPublished && !s.NextPublishedAt.IsZero():
		s.NextPublishedAt = time.Time{}
		return "the next CA is missing from a webhook's caBundle again: waiting until it is back", nil
	}
	return "", nil
}

func promoteNextCAOncePublishedAndSettled(s *secretState, in scheduleInput) (string, error) {
	if s.Next == nil || s.Retired != nil || !in.NextPublished || s.NextPublishedAt.IsZero() ||
		in.Now.Before(s.NextPublishedAt.Add(in.Settle)) {
		return "", nil
	}
	// The serving certificate in the Secret is the last the old CA signed (the Secret
	// holds one at a time, and each replaces an older one that expires sooner).
	until := in.Now
	if s.Serving != nil && signedBy(s.Serving.Cert, s.Signing.Cert) {
		until = s.Serving.Cert.NotAfter
	}
	s.Retired, s.RetiredUntil = s.Signing.Cert, until
	s.Signing, s.Next, s.NextPublishedAt = s.Next, nil, time.Time{}
	s.Serving = nil
	return fmt.Sprintf("the next CA has been in every caBundle since %s: it signs from now on; the previous CA stays trusted until %s",
		in.Now.Add(-in.Settle).Format(time.RFC3339), until.Format(time.RFC3339)), nil
}

// renewAt is when a serving certificate is renewed: two thirds into its life.
func renewAt(cert *serve.KeyPair) time.Time { return lifeFraction(cert.Cert, 2, 3) }

func issueServingCertificateWhenMissingOrDue(s *secretState, in scheduleInput) (string, error) {
	var reason string
	switch {
	case s.Serving == nil:
		reason = "no serving certificate from the signing CA: issued one"
	case !signedBy(s.Serving.Cert, s.Signing.Cert):
		reason = "the serving certificate was not signed by the signing CA: issued a new one"
	case !covers(s.Serving.Cert, in.Hosts):
		reason = fmt.Sprintf("the serving certificate does not name all of %v: issued a new one", in.Hosts)
	case !in.Now.Before(renewAt(s.Serving)) && s.Serving.Cert.NotAfter.Before(s.Signing.Cert.NotAfter):
		// A certificate already ending with its CA gains nothing by renewal; the next
		// CA's first certificate replaces it.
		reason = fmt.Sprintf("the serving certificate is two thirds through its life (expires %s): renewed it",
			s.Serving.Cert.NotAfter.Format(time.RFC3339))
	default:
		return "", nil
	}
	serving, err := serve.IssueServing(s.Signing, in.Hosts, in.Now, in.CertValidity)
	if err != nil {
		return "", err
	}
	s.Serving = serving
	return reason, nil
}

// nextCheck is the earliest time the schedule may have something to do without
// anything else changing. While the next CA waits to be seen in every caBundle,
// changes to the webhook configurations bring the next check sooner.
func nextCheck(s secretState, in scheduleInput) time.Time {
	if s.Empty() {
		return in.Now
	}
	next := s.Signing.Cert.NotAfter
	earliest := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	if s.Serving != nil && s.Serving.Cert.NotAfter.Before(s.Signing.Cert.NotAfter) {
		earliest(renewAt(s.Serving))
	}
	if s.Retired != nil {
		earliest(s.RetiredUntil)
		earliest(s.Retired.NotAfter)
	}
	switch {
	case s.Next == nil && s.Retired == nil:
		earliest(rotateAt(s.Signing))
	case s.Next != nil && !s.NextPublishedAt.IsZero():
		earliest(s.NextPublishedAt.Add(in.Settle))
	case s.Next != nil:
		earliest(in.Now.Add(in.Settle))
	}
	if next.Before(in.Now) {
		return in.Now
	}
	return next
}
