package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// walkEvents follows next links from query and returns the IDs of every page.
func walkEvents(t *testing.T, ts *testServer, query string) []string {
	t.Helper()
	var ids []string
	next := ""
	for pages := 0; ; pages++ {
		q, _ := url.ParseQuery(query)
		if next != "" {
			q.Set("cursor", next)
		}
		code, body := ts.call(t, "GET", trail.EventsPath+"?"+q.Encode(), ts.tokens["auditor"], nil)
		if code != http.StatusOK {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		page := decode[EventPage](t, body)
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		if page.Next == "" {
			return ids
		}
		next = page.Next
	}
}

func TestEventPagesWalkEverythingOnce(t *testing.T) {
	ts := newTestServer(t, Options{})
	want := map[string][]string{}
	for _, c := range []string{"prod", "staging"} {
		evs := events(c, c, 120)
		for i := 0; i < len(evs); i += 50 {
			batch := evs[i:min(i+50, len(evs))]
			if code, body := ts.ingest(t, "admin", trail.IngestRequest{Cluster: c, Events: batch}); code != 200 {
				t.Fatalf("%d %s", code, body)
			}
		}
		for _, e := range evs {
			want[c] = append(want[c], e.ID)
		}
	}
	denied := func(c string) []string {
		var out []string
		for _, e := range events(c, c, 120) {
			if e.Decision == "denied" {
				out = append(out, e.ID)
			}
		}
		return out
	}
	tests := []struct {
		name, query string
		want        []string
	}{
		{"one cluster, in chain order", "cluster=prod&limit=7", want["prod"]},
		{"one cluster, one decision", "cluster=staging&decision=denied&limit=4", denied("staging")},
		{"one policy", "cluster=prod&policy=BLF-PSS-007&limit=9", denied("prod")},
		{"a time range", "cluster=prod&from=" + t0.Add(10*time.Second).Format(time.RFC3339) + "&to=" + t0.Add(30*time.Second).Format(time.RFC3339), want["prod"][10:30]},
		{"the default page size", "cluster=prod", want["prod"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := walkEvents(t, ts, tt.query); !slices.Equal(got, tt.want) {
				t.Fatalf("got %d events %v\nwant %d %v", len(got), got, len(tt.want), tt.want)
			}
		})
	}
	t.Run("all clusters, by time", func(t *testing.T) {
		got := walkEvents(t, ts, "limit=13")
		all := slices.Concat(want["prod"], want["staging"])
		var fromClusters []string // leaving out the server's own events
		for _, id := range got {
			if strings.HasPrefix(id, "prod-") || strings.HasPrefix(id, "staging-") {
				fromClusters = append(fromClusters, id)
			}
		}
		slices.Sort(fromClusters)
		slices.Sort(all)
		if !slices.Equal(fromClusters, all) {
			t.Fatalf("got %d cluster events, want %d", len(fromClusters), len(all))
		}
	})
}

func TestFindingPagesWalkEverythingOnce(t *testing.T) {
	ts := newTestServer(t, Options{})
	var want []string
	for i := range 23 {
		sev := []string{"critical", "high"}[i%2]
		res := store.ObjectResult{
			Object:      store.ObjectRef{Cluster: "prod", UID: fmt.Sprintf("uid-%d", i), APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: fmt.Sprintf("p%d", i)},
			EvaluatedAt: t0,
			Violations:  []store.Violation{{PolicyID: "BLF-PSS-007", Severity: sev, Message: "privileged"}},
		}
		ch, err := ts.store.SyncFindings(context.Background(), res)
		if err != nil {
			t.Fatal(err)
		}
		if sev == "critical" {
			want = append(want, ch.Opened[0].ID)
		}
	}
	var got []string
	next := ""
	for {
		q := url.Values{"cluster": {"prod"}, "severity": {"critical"}, "state": {"open"}, "limit": {"4"}}
		if next != "" {
			q.Set("cursor", next)
		}
		code, body := ts.call(t, "GET", "/api/v1/findings?"+q.Encode(), ts.tokens["auditor"], nil)
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		page := decode[FindingPage](t, body)
		for _, f := range page.Findings {
			got = append(got, f.ID)
		}
		if next = page.Next; next == "" {
			break
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got %d findings, want %d", len(got), len(want))
	}
}

func TestFindingsTimeRangeKeepsThoseOpenDuringIt(t *testing.T) {
	ts := newTestServer(t, Options{})
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	ids := map[string]string{} // finding ID by object name
	// early is open from minute 0 to 10, middle from 5 on, late from 20 on.
	for _, o := range []struct {
		name             string
		opened, resolved int
	}{{"early", 0, 10}, {"middle", 5, -1}, {"late", 20, -1}} {
		obj := store.ObjectRef{Cluster: "prod", UID: "uid-" + o.name, APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: o.name}
		ch, err := ts.store.SyncFindings(context.Background(), store.ObjectResult{Object: obj, EvaluatedAt: at(o.opened),
			Violations: []store.Violation{{PolicyID: "BLF-PSS-007", Severity: "high", Message: "privileged"}}})
		if err != nil {
			t.Fatal(err)
		}
		ids[ch.Opened[0].ID] = o.name
		if o.resolved >= 0 {
			if _, err := ts.store.SyncFindings(context.Background(), store.ObjectResult{Object: obj, EvaluatedAt: at(o.resolved)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rfc := func(minutes int) string { return at(minutes).Format(time.RFC3339) }
	tests := []struct {
		name, query string
		want        []string
	}{
		{"from is inclusive of a resolution at it", "from=" + rfc(10), []string{"early", "middle", "late"}},
		{"from leaves out findings resolved before it", "from=" + rfc(11), []string{"middle", "late"}},
		{"to is exclusive of an opening at it", "to=" + rfc(20), []string{"early", "middle"}},
		{"to leaves out findings opened after it", "to=" + rfc(5), []string{"early"}},
		{"a range keeps findings open during part of it", "from=" + rfc(11) + "&to=" + rfc(20), []string{"middle"}},
		{"a range with other filters", "from=" + rfc(0) + "&to=" + rfc(30) + "&state=resolved&limit=1", []string{"early"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			q, _ := url.ParseQuery(tt.query)
			for pages := 0; pages < 10; pages++ {
				code, body := ts.call(t, "GET", "/api/v1/findings?"+q.Encode(), ts.tokens["auditor"], nil)
				if code != http.StatusOK {
					t.Fatalf("%d %s", code, body)
				}
				page := decode[FindingPage](t, body)
				for _, f := range page.Findings {
					got = append(got, ids[f.ID])
				}
				if page.Next == "" {
					break
				}
				q.Set("cursor", page.Next)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClustersListsEveryClusterWithItsChainHead(t *testing.T) {
	ts := newTestServer(t, Options{})
	for _, c := range []string{"staging", "prod"} {
		if code, body := ts.ingest(t, "admin", trail.IngestRequest{Cluster: c, Events: events(c, c, 3)}); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	code, body := ts.call(t, "GET", trail.ClustersPath, ts.tokens["auditor"], nil)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	list := decode[trail.ClusterList](t, body)
	var names []string
	for _, c := range list.Clusters {
		names = append(names, c.Name)
		if c.Name != trail.ServerCluster && (c.Head == nil || c.Head.Seq != 3 || !strings.HasPrefix(c.Head.Hash, "sha256:")) {
			t.Errorf("%s: head %+v, want seq 3", c.Name, c.Head)
		}
	}
	if want := []string{"prod", "staging"}; !slices.Equal(slices.DeleteFunc(names, func(n string) bool { return n == trail.ServerCluster }), want) {
		t.Errorf("clusters %v, want %v", names, want)
	}
	if code, body := ts.call(t, "GET", trail.ClustersPath+"?cluster=prod", ts.tokens["auditor"], nil); code != http.StatusBadRequest || !strings.Contains(string(body), "cluster") {
		t.Errorf("an unknown parameter: %d %s", code, body)
	}
}

func TestBadQueryParametersAreNamed(t *testing.T) {
	ts := newTestServer(t, Options{})
	tests := []struct{ path, reason string }{
		{"/api/v1/events?from=yesterday", "parameter from:"},
		{"/api/v1/events?to=2025-13-01", "parameter to:"},
		{"/api/v1/events?from=2025-06-02&to=2025-06-01", "parameter to:"},
		{"/api/v1/events?limit=0", "parameter limit:"},
		{"/api/v1/events?limit=5000", "parameter limit:"},
		{"/api/v1/events?limit=ten", "parameter limit:"},
		{"/api/v1/events?source=gossip", "parameter source:"},
		{"/api/v1/events?namspace=shop", `unknown parameter "namspace"`},
		{"/api/v1/events?kind=Pod&kind=Deployment", "parameter kind is given 2 times"},
		{"/api/v1/events?cursor=garbage", "parameter cursor:"},
		{"/api/v1/findings?severity=extreme", "parameter severity:"},
		{"/api/v1/findings?state=closed", "parameter state:"},
		{"/api/v1/findings?cursor=garbage", "parameter cursor:"},
		{"/api/v1/findings?from=yesterday", "parameter from:"},
		{"/api/v1/findings?to=2025-13-01", "parameter to:"},
		{"/api/v1/findings?from=2025-06-02&to=2025-06-01", "parameter to:"},
		{"/api/v1/clusters/prod/verify?fromSeq=-1", "parameter fromSeq:"},
		{"/api/v1/clusters/prod/verify?fromSeq=9&toSeq=3", "parameter toSeq:"},
		{"/api/v1/clusters/prod/verify?from=noon", "parameter from:"},
	}
	for _, tt := range tests {
		code, body := ts.call(t, "GET", tt.path, ts.tokens["auditor"], nil)
		if reason := decode[trail.ErrorResponse](t, body).Error; code != http.StatusBadRequest || !strings.Contains(reason, tt.reason) {
			t.Errorf("%s: got %d %q, want 400 naming %q", tt.path, code, reason, tt.reason)
		}
	}
}

func TestVerifyEndpoint(t *testing.T) {
	ts := newTestServer(t, Options{})
	if code, body := ts.ingest(t, "prod", trail.IngestRequest{Cluster: "prod", Events: events("prod", "a", 40)}); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	verify := func(query string) trail.VerifyResult {
		t.Helper()
		code, body := ts.call(t, "GET", "/api/v1/clusters/prod/verify"+query, ts.tokens["auditor"], nil)
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		return decode[trail.VerifyResult](t, body)
	}
	if got := verify(""); !got.OK || got.Count != 40 || got.FirstSeq != 1 || got.LastSeq != 40 {
		t.Fatalf("intact chain: %+v", got)
	}
	if got := verify("?fromSeq=11&toSeq=20"); !got.OK || got.Count != 10 || got.FirstSeq != 11 {
		t.Fatalf("a seq range: %+v", got)
	}
	from, to := t0.Add(5*time.Second).Format(time.RFC3339), t0.Add(15*time.Second).Format(time.RFC3339)
	if got := verify("?from=" + from + "&to=" + to); !got.OK || got.Count != 10 || got.FirstSeq != 6 {
		t.Fatalf("a time range: %+v", got)
	}
	tamper(t, ts.dbPath, "UPDATE events SET user_name = 'nobody' WHERE cluster = 'prod' AND seq = 17")
	got := verify("")
	if got.OK || got.Broken == nil || got.Broken.Seq != 17 || got.Broken.ID != "a-00016" || !strings.HasPrefix(got.Broken.Reason, "hash mismatch") {
		t.Fatalf("altered chain: %+v", got)
	}
	if got := verify("?fromSeq=18"); !got.OK {
		t.Fatalf("the range after the damage: %+v", got)
	}
}
