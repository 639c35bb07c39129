package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// recordingEmitter keeps the events emitted to it, as the trail's emitter would queue them.
type recordingEmitter struct {
	mu     sync.Mutex
	events []store.Event
}

func (r *recordingEmitter) Emit(e store.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recordingEmitter) all() []store.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// request describes an AdmissionReview request for a test; reviewOf encodes it.
type request struct {
	op, namespace, kind, group, version, object string
	dryRun                                      bool
}

func podRequest(namespace, object string) request {
	return request{op: "CREATE", namespace: namespace, kind: "Pod", version: "v1", object: object}
}

func (r request) dry() request { r.dryRun = true; return r }

func reviewOf(r request) string {
	req := map[string]any{
		"uid": "uid-1", "operation": r.op, "namespace": r.namespace, "name": "x", "dryRun": r.dryRun,
		"kind":     map[string]string{"group": r.group, "version": r.version, "kind": r.kind},
		"userInfo": map[string]any{"username": "alice", "groups": []string{"dev", "system:authenticated"}},
		"object":   json.RawMessage(r.object),
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
	return string(b)
}

const configMap = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"shop"},"data":{"a":"b"}}`

// legacyRootPod breaks only BLF-PSS-017, which the demo configuration exempts in "legacy".
// It carries a metadata.uid, as an object the API server already stored does.
var legacyRootPod = strings.Replace(strings.Replace(compliantPod, `"runAsNonRoot":true`, `"runAsNonRoot":false`, 1), `"namespace":"shop"`, `"namespace":"legacy","uid":"obj-legacy"`, 1)

// details decodes an event's Details.
func details(t *testing.T, e store.Event) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(e.Details, &d); err != nil {
		t.Fatalf("details %s: %v", e.Details, err)
	}
	return d
}

// sendable checks that the emitter would accept e once it sets the cluster.
func sendable(t *testing.T, e store.Event) {
	t.Helper()
	e.Cluster = "test"
	if err := trail.ValidateEvent(e); err != nil {
		t.Errorf("event %s would be dropped: %v", e.Source, err)
	}
}

func policyIDs(vs []store.Violation) []string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.PolicyID)
	}
	return ids
}

func TestEveryAnswerIsRecordedInTheTrail(t *testing.T) {
	timedOut := func(o *Options) { o.Timeout = time.Nanosecond }
	tests := []struct {
		name     string
		opts     func(*Options)
		endpoint func(*Handler) http.Handler
		request  request
		allowed  bool
		check    func(t *testing.T, events []store.Event, resp []byte)
	}{
		{"a compliant object is recorded as allowed", nil, (*Handler).Validate,
			request{op: "CREATE", namespace: "shop", kind: "ConfigMap", version: "v1", object: configMap}, true,
			func(t *testing.T, events []store.Event, _ []byte) {
				e := events[0]
				if e.Decision != "allowed" || len(e.Violations) != 0 || e.Patch != nil || e.DryRun {
					t.Errorf("event = %+v", e)
				}
				if e.APIVersion != "v1" || e.Kind != "ConfigMap" || e.Operation != "CREATE" {
					t.Errorf("apiVersion, kind, operation = %q %q %q", e.APIVersion, e.Kind, e.Operation)
				}
			}},
		{"a denial is recorded with every violation, its severity and enforcement", nil, (*Handler).Validate,
			podRequest("shop", privilegedPod), false,
			func(t *testing.T, events []store.Event, _ []byte) {
				e := events[0]
				if e.Decision != "denied" || !slices.Contains(policyIDs(e.Violations), "BLF-PSS-007") || !slices.Contains(policyIDs(e.Violations), "BLF-IMG-001") {
					t.Fatalf("decision %s, violations %v", e.Decision, policyIDs(e.Violations))
				}
				for _, v := range e.Violations {
					if v.Message == "" || v.Severity == "" || v.Enforcement == "" {
						t.Errorf("violation lacks message, severity or enforcement: %+v", v)
					}
				}
			}},
		{"a warning is recorded as warned", nil, (*Handler).Validate,
			podRequest("shop", compliantPod), true,
			func(t *testing.T, events []store.Event, _ []byte) {
				e := events[0]
				if e.Decision != "warned" || len(e.Violations) == 0 || e.Violations[0].Enforcement != "warn" {
					t.Errorf("decision %s, violations %+v", e.Decision, e.Violations)
				}
			}},
		{"a dry run is recorded and marked as one", nil, (*Handler).Validate,
			podRequest("shop", privilegedPod).dry(), false,
			func(t *testing.T, events []store.Event, _ []byte) {
				if e := events[0]; e.Decision != "denied" || !e.DryRun {
					t.Errorf("decision %s, dryRun %v", e.Decision, e.DryRun)
				}
			}},
		{"a mutation is recorded with the patch answered", nil, (*Handler).Mutate,
			podRequest("shop", noResourcesPod), true,
			func(t *testing.T, events []store.Event, patch []byte) {
				e := events[0]
				if e.Decision != "allowed" || details(t, e)["endpoint"] != "mutate" {
					t.Errorf("decision %s, details %s", e.Decision, e.Details)
				}
				if len(patch) == 0 || string(e.Patch) != string(patch) {
					t.Errorf("patch recorded %s, answered %s", e.Patch, patch)
				}
			}},
		{"an exempt namespace is recorded as allowed, with a note", nil, (*Handler).Validate,
			podRequest("kube-system", privilegedPod), true,
			func(t *testing.T, events []store.Event, _ []byte) {
				e := events[0]
				if d := details(t, e); e.Decision != "allowed" || d["exempt"] != "namespace" || d["note"] == nil || len(e.Violations) != 0 {
					t.Errorf("decision %s, details %s, violations %v", e.Decision, e.Details, e.Violations)
				}
			}},
		{"a validation that cannot run is recorded as denied by failure policy Fail", timedOut, (*Handler).Validate,
			podRequest("shop", compliantPod), false,
			func(t *testing.T, events []store.Event, _ []byte) {
				e := events[0]
				if d := details(t, e); e.Decision != "denied" || d["failurePolicy"] != "Fail" || !strings.Contains(d["error"].(string), "deadline") {
					t.Errorf("decision %s, details %s", e.Decision, e.Details)
				}
			}},
		{"a mutation that cannot run is recorded as allowed by failure policy Ignore", timedOut, (*Handler).Mutate,
			podRequest("shop", noResourcesPod), true,
			func(t *testing.T, events []store.Event, _ []byte) {
				e := events[0]
				if d := details(t, e); e.Decision != "allowed" || d["failurePolicy"] != "Ignore" || d["error"] == nil || e.Patch != nil {
					t.Errorf("decision %s, details %s, patch %s", e.Decision, e.Details, e.Patch)
				}
			}},
		{"an exemption used is recorded beside the decision it changed", nil, (*Handler).Validate,
			podRequest("legacy", legacyRootPod), true,
			func(t *testing.T, events []store.Event, _ []byte) {
				if len(events) != 2 {
					t.Fatalf("want the admission event and one exemption event, got %d", len(events))
				}
				admission, used := events[0], events[1]
				if slices.Contains(policyIDs(admission.Violations), "BLF-PSS-017") {
					t.Errorf("the exempted violation must not count against the object: %v", policyIDs(admission.Violations))
				}
				d := details(t, used)
				ids := slices.Compact(policyIDs(used.Violations))
				if used.Source != "exemption" || used.Decision != "used" || !slices.Equal(ids, []string{"BLF-PSS-017"}) {
					t.Errorf("exemption event = %+v", used)
				}
				if d["owner"] != "team-legacy" || d["expires"] != "2027-06-30" || !strings.Contains(d["reason"].(string), "root") || d["admissionEvent"] != admission.ID {
					t.Errorf("exemption details = %s", used.Details)
				}
				if used.User != "alice" || used.Namespace != "legacy" || used.UID != "obj-legacy" || d["requestUID"] != "uid-1" || used.PolicySetVersion != admission.PolicySetVersion {
					t.Errorf("the exemption event must name the request: %+v", used)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingEmitter{}
			h := testHandler(t, func(o *Options) {
				o.Auditor = NewTrailAuditor(rec, "replica-1")
				if tt.opts != nil {
					tt.opts(o)
				}
			})
			_, resp := post(t, tt.endpoint(h), reviewOf(tt.request))
			if resp == nil || resp.Allowed != tt.allowed {
				t.Fatalf("response = %+v", resp)
			}
			if err := h.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			events := rec.all()
			if len(events) == 0 {
				t.Fatal("nothing was recorded")
			}
			e := events[0]
			if e.Source != "admission" || e.User != "alice" || !slices.Equal(e.Groups, []string{"dev", "system:authenticated"}) ||
				e.Namespace != tt.request.namespace || e.Name != "x" || e.Time.IsZero() || details(t, e)["requestUID"] != "uid-1" {
				t.Errorf("the admission event must name the request: %+v", e)
			}
			var obj struct {
				Metadata struct{ UID string } `json:"metadata"`
			}
			if err := json.Unmarshal([]byte(tt.request.object), &obj); err != nil {
				t.Fatal(err)
			}
			if e.UID != obj.Metadata.UID {
				t.Errorf("uid = %q, want the object's metadata.uid %q", e.UID, obj.Metadata.UID)
			}
			if e.PolicySetVersion != h.opts.Engine.Set().Version() {
				t.Errorf("policySetVersion = %q, want %q", e.PolicySetVersion, h.opts.Engine.Set().Version())
			}
			for _, e := range events {
				sendable(t, e)
			}
			tt.check(t, events, resp.Patch)
		})
	}
}

func TestTheTrailRecordsTheKindsGroupAndVersion(t *testing.T) {
	rec := &recordingEmitter{}
	h := testHandler(t, func(o *Options) { o.Auditor = NewTrailAuditor(rec, "") })
	deployment := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x","namespace":"shop"},"spec":{}}`
	post(t, h.Validate(), reviewOf(request{op: "CREATE", namespace: "shop", kind: "Deployment", group: "apps", version: "v1", object: deployment}))
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e := rec.all()[0]; e.APIVersion != "apps/v1" || e.Kind != "Deployment" {
		t.Errorf("apiVersion %q kind %q", e.APIVersion, e.Kind)
	}
}

// stuckAuditor never returns from Record until released.
type stuckAuditor struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stuckAuditor) Record(context.Context, Decision) {
	s.once.Do(func() { close(s.entered) })
	<-s.release
}

func TestAStuckAuditorNeverHoldsUpAnAnswer(t *testing.T) {
	stuck := &stuckAuditor{entered: make(chan struct{}), release: make(chan struct{})}
	defer close(stuck.release)
	h := testHandler(t, func(o *Options) { o.Auditor = stuck; o.AuditQueue = 1 })
	const requests = 5
	for i := range requests {
		_, resp := post(t, h.Validate(), reviewOf(podRequest("shop", privilegedPod)))
		if resp == nil || resp.Allowed {
			t.Fatalf("request %d: response = %+v", i, resp)
		}
		if i == 0 {
			<-stuck.entered // the auditor now holds the first decision, and never lets go
		}
	}
	// One decision is in Record and one fits the queue: the rest were dropped, counted.
	if got := counterValue(t, h.opts.Metrics, "bailiff_admission_audit_dropped_total"); got < requests-2 {
		t.Errorf("dropped = %v, want at least %d", got, requests-2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close with a stuck auditor and an ended context = %v", err)
	}
}

func TestConfigurationChangesAreRecordedInTheTrail(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cluster: {name: prod}\npodSecurity: {level: baseline}\n")
	engine, r := watchedEngine(t, cfgFile, NewMetrics())
	rec := &recordingEmitter{}
	r.WithAuditor(NewTrailAuditor(rec, "replica-1"))
	ctx := context.Background()
	started := engine.Set().Version()

	r.RecordStart(ctx)
	write("cluster: {name: prod}\npodSecurity: {level: restricted}\n")
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	changed := engine.Set().Version()
	if err := r.Reload(ctx); err != nil { // the same files again: no change to record
		t.Fatal(err)
	}
	write("cluster: {name: prod}\npodSecurity: {level: strict}\n")
	if err := r.Reload(ctx); err == nil {
		t.Fatal("an invalid configuration must be rejected")
	}

	events := rec.all()
	if len(events) != 3 {
		t.Fatalf("want loaded at start, loaded on change, rejected; got %d events", len(events))
	}
	tests := []struct {
		name     string
		event    store.Event
		decision string
		version  string
		details  map[string]any
	}{
		{"the set the webhook starts with is recorded as loaded", events[0], "loaded", started,
			map[string]any{"trigger": "start", "configFile": cfgFile, "instance": "replica-1"}},
		{"a new set is recorded as loaded, naming the one it replaces", events[1], "loaded", changed,
			map[string]any{"trigger": "change", "previousVersion": started}},
		{"a rejected set is recorded with the error and the set that keeps serving", events[2], "rejected", "",
			map[string]any{"trigger": "change", "servingVersion": changed}},
	}
	digests := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.event
			sendable(t, e)
			if e.Source != "config" || e.Decision != tt.decision || e.PolicySetVersion != tt.version {
				t.Errorf("source %s, decision %s, version %q", e.Source, e.Decision, e.PolicySetVersion)
			}
			d := details(t, e)
			for k, want := range tt.details {
				if d[k] != want {
					t.Errorf("details[%s] = %v, want %v", k, d[k], want)
				}
			}
			digest, _ := d["sourceDigest"].(string)
			if !strings.HasPrefix(digest, "sha256:") {
				t.Errorf("sourceDigest = %q", digest)
			}
			digests[digest] = true
			if tt.decision == "rejected" && !strings.Contains(d["error"].(string), "podSecurity.level") {
				t.Errorf("error = %v", d["error"])
			}
		})
	}
	if len(digests) != 3 {
		t.Errorf("three different files must have three digests: %v", digests)
	}
}

func TestReloadsWithoutAnAuditorRecordNothing(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte("podSecurity: {level: baseline}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, r := watchedEngine(t, cfgFile, NewMetrics())
	r.RecordStart(context.Background()) // must not panic
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
}
