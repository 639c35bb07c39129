// Package trail is Bailiff's audit trail: the hash chain that makes a
// cluster's events tamper-evident, its verification, the wire format between
// clusters and the central server, and the emitter that delivers events
// without ever blocking admission.
package trail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

// HashPrefix names the hash algorithm in every hash the trail writes, so a
// later algorithm can be told apart from this one.
const HashPrefix = "sha256:"

// TimeFormat is how event times appear in the canonical form: UTC with exactly
// six fractional digits. Both stores keep microseconds, so a time read back
// hashes like the time written.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

var _ store.HashFunc = Hash

// Hash is the trail's store.HashFunc: "sha256:" and the hex SHA-256 of the
// event's canonical JSON (see CanonicalJSON). The hash covers Seq and PrevHash,
// which is what links the chain.
func Hash(e store.Event) (string, error) {
	doc, err := CanonicalJSON(e)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(doc)
	return HashPrefix + hex.EncodeToString(sum[:]), nil
}

// hashedEvent is an event as its hash sees it. The outer fields shadow the
// event's own: Time in TimeFormat, and no hash member at all. Every other field
// of store.Event is included without being listed, so a field added later is
// covered by the hash automatically.
type hashedEvent struct {
	store.Event
	Time string    `json:"time"`
	Hash *struct{} `json:"hash,omitempty"`
}

// CanonicalJSON is the document an event's hash is computed over: the event's
// JSON without its hash member, its time in TimeFormat (UTC, truncated to
// microseconds), a null patch or details treated as absent, and the whole
// canonicalised per RFC 8785, so neither member order nor whitespace inside
// Patch and Details changes it.
func CanonicalJSON(e store.Event) ([]byte, error) {
	e.Patch = nullAsAbsent(e.Patch)
	e.Details = nullAsAbsent(e.Details)
	raw, err := json.Marshal(hashedEvent{Event: e, Time: e.Time.UTC().Format(TimeFormat)})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	doc, err := Canonicalize(raw)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID, err)
	}
	return doc, nil
}

// NormalizeTime is the time an event is stored with: UTC, microsecond precision.
func NormalizeTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// nullAsAbsent maps a JSON null to no value: a store may keep either as NULL.
func nullAsAbsent(m json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(m); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return m
}
