package trail

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

func TestValidateEvent(t *testing.T) {
	valid := func() store.Event {
		return store.Event{ID: "e1", Cluster: "prod", Time: t0, Source: SourceAdmission, Decision: "allowed"}
	}
	tests := []struct {
		name   string
		change func(e *store.Event)
		want   string // "" for valid
	}{
		{"a minimal event is valid", func(*store.Event) {}, ""},
		{"a patch array and details object are valid", func(e *store.Event) {
			e.Patch, e.Details = json.RawMessage(`[{"op":"remove","path":"/x"}]`), json.RawMessage(`{"owner":"team-a"}`)
		}, ""},
		{"null patch and details count as none", func(e *store.Event) { e.Patch, e.Details = json.RawMessage("null"), json.RawMessage("null") }, ""},
		{"no id", func(e *store.Event) { e.ID = "" }, "id is missing"},
		{"an overlong id", func(e *store.Event) { e.ID = strings.Repeat("x", MaxIDLength+1) }, "id is longer"},
		{"no cluster", func(e *store.Event) { e.Cluster = "" }, "cluster is missing"},
		{"no time", func(e *store.Event) { e.Time = time.Time{} }, "time is missing"},
		{"no source", func(e *store.Event) { e.Source = "" }, "source is missing"},
		{"the server's own source", func(e *store.Event) { e.Source = SourceServer }, `source "server" is not one of`},
		{"no decision", func(e *store.Event) { e.Decision = "" }, "decision is missing"},
		{"a decision that is not a word", func(e *store.Event) { e.Decision = "Allowed!" }, "not a lower-case word"},
		{"a chain position", func(e *store.Event) { e.Seq = 1 }, "assigned by the store"},
		{"a previous hash", func(e *store.Event) { e.PrevHash = "sha256:00" }, "assigned by the store"},
		{"a patch object", func(e *store.Event) { e.Patch = json.RawMessage(`{"op":"add"}`) }, "patch must be an RFC 6902 JSON Patch array"},
		{"details that are a list", func(e *store.Event) { e.Details = json.RawMessage(`[1]`) }, "details must be a JSON object"},
		{"details with a duplicate member", func(e *store.Event) { e.Details = json.RawMessage(`{"a":1,"a":2}`) }, "duplicate member"},
		{"details nested too deep", func(e *store.Event) {
			e.Details = json.RawMessage(strings.Repeat(`{"a":`, MaxRawDepth+1) + "1" + strings.Repeat("}", MaxRawDepth+1))
		}, "nested more than 64 levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.change(&e)
			err := ValidateEvent(e)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValidateClusterName(t *testing.T) {
	for name, ok := range map[string]bool{
		"prod-eu": true, "prod.eu_1": true, "A1": true,
		"": false, "_server": false, "-x": false, "prod eu": false, "prod/eu": false, strings.Repeat("a", 254): false,
	} {
		if err := ValidateClusterName(name); (err == nil) != ok {
			t.Errorf("%q: got %v, want valid %v", name, err, ok)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2025-06-01T08:00:00Z", time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)},
		{"2025-06-01T10:00:00.5+02:00", time.Date(2025, 6, 1, 8, 0, 0, 5e8, time.UTC)},
		{"2025-06-01", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got, err := ParseTime(tt.in); err != nil || !got.Equal(tt.want) {
			t.Errorf("%s: got %v, %v", tt.in, got, err)
		}
	}
	for _, bad := range []string{"", "yesterday", "2025-13-01", "06/01/2025"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
