package webhook

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// EventEmitter queues trail events without ever blocking; *trail.Emitter is the real one.
type EventEmitter interface {
	Emit(e store.Event)
}

var _ EventEmitter = (*trail.Emitter)(nil)

// TrailAuditor turns the webhook's decisions and reloads into audit-trail events:
//
//   - each answer of /validate and of /mutate is one "admission" event: the API server
//     calls the two separately, each with its own request uid (Details.requestUID),
//     and acts on each answer. Details.endpoint says which; a /mutate event carries the
//     patch answered, a /validate event the violations found, whatever their
//     enforcement. The decision is denied when the answer refused the request, warned
//     when it allowed it with warnings from policies, allowed otherwise. Dry runs are
//     recorded like any request, with DryRun set.
//   - a request in an exempt namespace is recorded as allowed, with Details.exempt
//     "namespace": nothing was evaluated, and the trail shows what got in unchecked.
//   - a request whose policies could not be evaluated is recorded with what its
//     failure policy answered (Fail: denied; Ignore: allowed) and the error and
//     failure policy in Details.
//   - each exemption used in an answer is one "exemption" event, decision "used", with
//     the violations it let through (none for a skipped mutation), its owner, reason,
//     expiry and scope, and the ID of the admission event it belongs to.
//   - each policy-set load or rejection is one "config" event (see ReloadEvent).
//
// A request the webhook cannot read (HTTP 400 or 413) or that panics (500) gets no
// answer from Bailiff: the API server applies its own failure policy and audit log.
type TrailAuditor struct {
	emit     EventEmitter
	instance string
}

var (
	_ Auditor       = (*TrailAuditor)(nil)
	_ ReloadAuditor = (*TrailAuditor)(nil)
)

// NewTrailAuditor emits to e. Instance names this replica (its pod name) in config
// events, where it tells which replica loaded what.
func NewTrailAuditor(e EventEmitter, instance string) *TrailAuditor {
	return &TrailAuditor{emit: e, instance: instance}
}

// Record emits the events of one admission decision.
func (a *TrailAuditor) Record(_ context.Context, d Decision) {
	for _, e := range DecisionEvents(d) {
		a.emit.Emit(e)
	}
}

// RecordReload emits the event of one policy-set load or rejection.
func (a *TrailAuditor) RecordReload(_ context.Context, r ReloadOutcome) {
	a.emit.Emit(ReloadEvent(r, a.instance))
}

// DecisionEvents are the trail events of a decision: the admission event first, then
// one per exemption used. Cluster is left for the emitter to set.
func DecisionEvents(d Decision) []store.Event {
	details := map[string]any{"endpoint": d.Endpoint, "requestUID": d.RequestUID}
	if d.SubResource != "" {
		details["subResource"] = d.SubResource
	}
	if d.ExemptNamespace {
		details["exempt"] = "namespace"
		details["note"] = "the namespace is exempt: allowed without evaluating policies"
	}
	if d.Err != nil {
		details["error"] = d.Err.Error()
		details["failurePolicy"] = string(d.FailurePolicy)
	}
	admission := requestEvent(d, trail.SourceAdmission, d.Outcome, details)
	admission.Violations = violations(d.Violations)
	if len(d.Patch) > 0 {
		admission.Patch = json.RawMessage(d.Patch)
	}
	events := []store.Event{admission}

	// One event per exemption, with every violation it let through.
	type use struct {
		exemption  config.Exemption
		violations []policy.Violation
	}
	var uses []*use
	find := func(ex config.Exemption) *use {
		for _, u := range uses {
			if sameExemption(u.exemption, ex) {
				return u
			}
		}
		u := &use{exemption: ex}
		uses = append(uses, u)
		return u
	}
	for _, ev := range d.ExemptedViolations {
		u := find(ev.Exemption)
		u.violations = append(u.violations, ev.Violation)
	}
	for _, em := range d.ExemptedMutations {
		find(em.Exemption)
	}
	for _, u := range uses {
		ex := u.exemption
		details := map[string]any{
			"endpoint":       d.Endpoint,
			"requestUID":     d.RequestUID,
			"admissionEvent": admission.ID,
			"policy":         ex.Policy,
			"owner":          ex.Owner,
			"reason":         ex.Reason,
			"expires":        ex.Expires.Format(time.DateOnly),
		}
		if scope := exemptionScope(ex); len(scope) > 0 {
			details["scope"] = scope
		}
		if d.Endpoint == "mutate" {
			details["skipped"] = "mutation"
		}
		e := requestEvent(d, trail.SourceExemption, "used", details)
		e.Violations = violations(u.violations)
		events = append(events, e)
	}
	return events
}

// requestEvent is an event about the request of d, with a new ID.
func requestEvent(d Decision, source, decision string, details map[string]any) store.Event {
	return store.Event{
		ID:               trail.NewEventID(),
		Time:             d.Time,
		Source:           source,
		User:             d.User,
		Groups:           slices.Clone(d.Groups),
		Operation:        d.Operation,
		APIVersion:       d.APIVersion,
		Kind:             d.Kind,
		Namespace:        d.Namespace,
		Name:             d.Name,
		UID:              d.ObjectUID,
		Decision:         decision,
		DryRun:           d.DryRun,
		PolicySetVersion: d.PolicySetVersion,
		Details:          detailsJSON(details),
	}
}

// ReloadEvent is the trail event of a policy-set load or rejection. A rejected set
// has no version: its SourceDigest identifies it, and the set that keeps serving is
// named in Details.
func ReloadEvent(r ReloadOutcome, instance string) store.Event {
	details := map[string]any{"trigger": r.Trigger, "sourceDigest": r.SourceDigest}
	if r.Files.ConfigFile != "" {
		details["configFile"] = r.Files.ConfigFile
	}
	if len(r.Files.PolicyDirs) > 0 {
		details["policyDirs"] = r.Files.PolicyDirs
	}
	if instance != "" {
		details["instance"] = instance
	}
	e := store.Event{ID: trail.NewEventID(), Time: r.Time, Source: trail.SourceConfig}
	if r.Err != nil {
		e.Decision = "rejected"
		details["error"] = r.Err.Error()
		details["servingVersion"] = r.Version
	} else {
		e.Decision = "loaded"
		e.PolicySetVersion = r.Version
		details["policies"] = r.Policies
		if r.PreviousVersion != "" && r.PreviousVersion != r.Version {
			details["previousVersion"] = r.PreviousVersion
		}
	}
	e.Details = detailsJSON(details)
	return e
}

func violations(vs []policy.Violation) []store.Violation {
	if len(vs) == 0 {
		return nil
	}
	out := make([]store.Violation, len(vs))
	for i, v := range vs {
		out[i] = store.Violation{PolicyID: v.Policy, Severity: v.Severity, Enforcement: v.Enforcement, Message: v.Message, Field: v.Field}
	}
	return out
}

func sameExemption(a, b config.Exemption) bool {
	return a.Policy == b.Policy && a.Namespace == b.Namespace && a.Kind == b.Kind && a.Name == b.Name &&
		a.Owner == b.Owner && a.Reason == b.Reason && a.Expires.Equal(b.Expires.Time)
}

// exemptionScope is what an exemption covers besides its policy.
func exemptionScope(ex config.Exemption) map[string]string {
	scope := map[string]string{}
	for k, v := range map[string]string{"namespace": ex.Namespace, "kind": ex.Kind, "name": ex.Name} {
		if v != "" {
			scope[k] = v
		}
	}
	return scope
}

// detailsJSON encodes details built here from strings, numbers and lists of them,
// which always encode; were one not to, the event still says so.
func detailsJSON(v map[string]any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"encodingError": err.Error()})
	}
	return b
}
