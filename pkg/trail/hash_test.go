package trail

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

func TestCanonicalizeFollowsRFC8785(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			// RFC 8785 section 3.2.2, the canonicalization example.
			name: "the RFC's sample of numbers, strings and literals",
			in: `{
				"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
				"string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
				"literals": [null, true, false]
			}`,
			want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			// RFC 8785 section 3.2.3: names sort by UTF-16 code units, so the
			// emoji (a surrogate pair, 0xD83D...) comes before U+FB33.
			name: "member names sort by UTF-16 code units",
			in: `{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
				"1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
				"\u00f6": "Latin Small Letter O With Diaeresis"}`,
			want: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\"," +
				"\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{
			name: "nested objects are sorted and whitespace dropped",
			in:   " { \"b\" : [ 1 , { \"z\" : true , \"a\" : null } ] , \"a\" : { } } ",
			want: `{"a":{},"b":[1,{"a":null,"z":true}]}`,
		},
		{
			name: "HTML characters and line separators are not escaped",
			in:   `"<a href=\"x\">&amp;</a>\u2028"`,
			want: "\"<a href=\\\"x\\\">&amp;</a>\u2028\"",
		},
		{
			name: "control characters use the short escapes where JSON has them, lower-case hex otherwise",
			in:   `"\b\f\n\r\t\u0001\u001F"`,
			want: `"\b\f\n\r\t\u0001\u001f"`,
		},
		{name: "integers written as decimals print as integers", in: `[1.0, -0, 100e0, 1e2]`, want: `[1,0,100,100]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCanonicalizeRefusesAmbiguousDocuments(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a duplicate member name", `{"a":1,"a":2}`, "duplicate member"},
		{"a number beyond the double range", `[1e400]`, "not an IEEE-754 double"},
		{"data after the value", `{} {}`, "after the top-level value"},
		{"malformed JSON", `{"a":}`, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Canonicalize([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// The number serialisation samples of RFC 8785 appendix B.
func TestFormatES6MatchesTheRFCSamples(t *testing.T) {
	tests := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	}
	for _, tt := range tests {
		if got := formatES6(math.Float64frombits(tt.bits)); got != tt.want {
			t.Errorf("%#016x: got %s, want %s", tt.bits, got, tt.want)
		}
	}
}

// sampleEvent is a fully populated event whose canonical form and hash are pinned below.
func sampleEvent() store.Event {
	return store.Event{
		ID:         "0190c1d2-0000-7000-8000-000000000001",
		Cluster:    "prod-eu",
		Time:       time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.FixedZone("CET", 3600)),
		Source:     "admission",
		User:       "alice@example.com",
		Groups:     []string{"devs", "system:authenticated"},
		Operation:  "CREATE",
		APIVersion: "apps/v1",
		Kind:       "Deployment",
		Namespace:  "shop",
		Name:       "web",
		UID:        "u-1",
		Decision:   "denied",
		Violations: []store.Violation{{
			PolicyID: "BLF-PSS-007", Severity: "high", Enforcement: "deny",
			Message: `privileged container "app"`, Field: "spec.template.spec.containers[0].securityContext.privileged",
		}},
		Patch:            json.RawMessage(`[{"op":"add","path":"/metadata/labels/team","value":"shop"}]`),
		PolicySetVersion: "v1.2.3",
		Details:          json.RawMessage(`{"b": 1, "a": "x"}`),
		Seq:              7,
		PrevHash:         "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
		Hash:             "sha256:not-part-of-the-hash",
	}
}

// The expected documents were written by hand from the rules, and their
// SHA-256 computed with sha256sum, independently of this package.
func TestHashVectors(t *testing.T) {
	tests := []struct {
		name      string
		event     store.Event
		canonical string
		hash      string
	}{
		{
			name:  "a fully populated event",
			event: sampleEvent(),
			canonical: `{"apiVersion":"apps/v1","cluster":"prod-eu","decision":"denied","details":{"a":"x","b":1},` +
				`"groups":["devs","system:authenticated"],"id":"0190c1d2-0000-7000-8000-000000000001","kind":"Deployment",` +
				`"name":"web","namespace":"shop","operation":"CREATE",` +
				`"patch":[{"op":"add","path":"/metadata/labels/team","value":"shop"}],"policySetVersion":"v1.2.3",` +
				`"prevHash":"sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef","seq":7,` +
				`"source":"admission","time":"2025-03-01T11:30:45.123456Z","uid":"u-1","user":"alice@example.com",` +
				`"violations":[{"enforcement":"deny","field":"spec.template.spec.containers[0].securityContext.privileged",` +
				`"message":"privileged container \"app\"","policyId":"BLF-PSS-007","severity":"high"}]}`,
			hash: "sha256:91f7dd5aff34b4e2aafbff82a8b6d91fd951d87b5ff69fd615dc887ff5061257",
		},
		{
			name:      "a minimal first event",
			event:     store.Event{ID: "e1", Cluster: "c", Time: time.Unix(0, 0), Source: "audit", Decision: "allowed", Seq: 1},
			canonical: `{"cluster":"c","decision":"allowed","id":"e1","prevHash":"","seq":1,"source":"audit","time":"1970-01-01T00:00:00.000000Z"}`,
			hash:      "sha256:c379ee88d36326b513f828782b4ffa3dc47c753ff0d306f3bf023e44c3728dd6",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := CanonicalJSON(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if string(doc) != tt.canonical {
				t.Errorf("canonical JSON\ngot  %s\nwant %s", doc, tt.canonical)
			}
			h, err := Hash(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.hash {
				t.Errorf("hash: got %s, want %s", h, tt.hash)
			}
		})
	}
}

func TestHashIgnoresRepresentationButNotContent(t *testing.T) {
	base, err := Hash(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(e *store.Event)
		same   bool
	}{
		{"member order and whitespace in details", func(e *store.Event) { e.Details = json.RawMessage("{ \"a\" : \"x\",\n \"b\" : 1.0 }") }, true},
		{"member order and whitespace in the patch", func(e *store.Event) {
			e.Patch = json.RawMessage(`[ { "value": "shop", "path": "/metadata/labels/team", "op": "add" } ]`)
		}, true},
		{"the same instant in another zone", func(e *store.Event) { e.Time = e.Time.UTC() }, true},
		{"nanoseconds below the stored microseconds", func(e *store.Event) { e.Time = e.Time.Add(-789) }, true},
		{"the stored hash itself", func(e *store.Event) { e.Hash = "" }, true},
		{"a value in details", func(e *store.Event) { e.Details = json.RawMessage(`{"a":"y","b":1}`) }, false},
		{"a patch value", func(e *store.Event) {
			e.Patch = json.RawMessage(`[{"op":"add","path":"/metadata/labels/team","value":"shoq"}]`)
		}, false},
		{"the decision", func(e *store.Event) { e.Decision = "allowed" }, false},
		{"a microsecond", func(e *store.Event) { e.Time = e.Time.Add(time.Microsecond) }, false},
		{"the chain position", func(e *store.Event) { e.Seq = 8 }, false},
		{"the previous hash", func(e *store.Event) { e.PrevHash = "sha256:00" }, false},
		{"a violation message", func(e *store.Event) { e.Violations[0].Message = "fine" }, false},
		{"the dry-run flag", func(e *store.Event) { e.DryRun = true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEvent()
			tt.change(&e)
			h, err := Hash(e)
			if err != nil {
				t.Fatal(err)
			}
			if (h == base) != tt.same {
				t.Errorf("hash changed: %v, want changed: %v", h != base, !tt.same)
			}
		})
	}
}

func TestHashTreatsNullPatchAndDetailsAsAbsent(t *testing.T) {
	e := store.Event{ID: "e1", Cluster: "c", Time: time.Unix(0, 0), Source: "audit", Decision: "allowed", Seq: 1}
	want, err := Hash(e)
	if err != nil {
		t.Fatal(err)
	}
	e.Patch, e.Details = json.RawMessage("null"), json.RawMessage(" null ")
	if got, err := Hash(e); err != nil || got != want {
		t.Fatalf("got %s, %v; want %s", got, err, want)
	}
}

func TestHashRejectsInvalidRawJSON(t *testing.T) {
	e := sampleEvent()
	e.Details = json.RawMessage(`{"a":1,"a":2}`)
	if _, err := Hash(e); err == nil || !strings.Contains(err.Error(), "duplicate member") {
		t.Fatalf("got %v, want a duplicate member error", err)
	}
}

// BenchmarkHash measures hashing one fully populated event, which ingest does
// once per event and verification once per event read.
func BenchmarkHash(b *testing.B) {
	e := sampleEvent()
	for b.Loop() {
		if _, err := Hash(e); err != nil {
			b.Fatal(err)
		}
	}
}
