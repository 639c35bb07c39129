package reports

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
)

func testKeeper(t *testing.T, now func() time.Time) *Keeper {
	t.Helper()
	g := testGenerator(t, nil)
	g.Now = now
	return &Keeper{Generator: *g, Key: testKey()}
}

func TestKeeperKeepsSignedReportsAndRefusesAlteredOnes(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	k := testKeeper(t, time.Now)
	rec, r, err := k.Create(ctx, f.st, Request{Cluster: "prod-eu", Framework: "pss"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != r.ID || rec.Cluster != "prod-eu" || rec.Scope != ScopeCluster || strings.Join(rec.Frameworks, ",") != "pss" || !rec.TrailOK || r.Signature == nil {
		t.Errorf("kept %+v", rec)
	}
	if score, ok := ScoreOf(rec, "pss"); !ok || score == nil || *score >= 1 {
		t.Errorf("pss score %v %v: the fixture fails some pod security controls", score, ok)
	}
	loaded, err := k.Load(ctx, f.st, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.ID != r.ID || len(loaded.Clusters) != 1 {
		t.Errorf("loaded %s with %d clusters", loaded.ID, len(loaded.Clusters))
	}
	if _, err := k.Load(ctx, f.st, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown report: %v", err)
	}

	// A report rewritten in the database behind the store's back is not served.
	fleet, _, err := k.Create(ctx, f.st, Request{Fleet: true, Framework: "cis"})
	if err != nil {
		t.Fatal(err)
	}
	f.tamper(t, "UPDATE reports SET body = (SELECT body FROM reports WHERE id = '"+fleet.ID+"') WHERE id = '"+rec.ID+"'")
	if _, err := k.Load(ctx, f.st, rec.ID); err == nil || !strings.Contains(err.Error(), "as stored") {
		t.Errorf("a swapped body: %v", err)
	}
	// Nor is one signed by another key.
	other := &Keeper{Generator: k.Generator, Key: testKeyOther()}
	if _, err := other.Load(ctx, f.st, fleet.ID); err == nil {
		t.Error("a report signed by another key was served")
	}
}

func TestScheduleMakesEachClustersReportOncePerPeriod(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	now := time.Now()
	k := testKeeper(t, func() time.Time { return now })
	s := Scheduled{Every: 24 * time.Hour, Framework: compliance.All}
	count := func() map[string]int {
		t.Helper()
		page, err := f.st.Reports(ctx, store.ReportQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, r := range page.Reports {
			out[r.Cluster]++
		}
		return out
	}
	if err := k.scheduleOnce(ctx, f.st, s); err != nil {
		t.Fatal(err)
	}
	if got := count(); got["prod-eu"] != 1 || got["staging"] != 1 || got[""] != 1 || len(got) != 3 {
		t.Fatalf("after the first run: %v, want one report each of prod-eu, staging and the fleet", got)
	}
	// A report made by hand for one framework does not stand in for the schedule's.
	now = now.Add(25 * time.Hour)
	if _, _, err := k.Create(ctx, f.st, Request{Cluster: "staging", Framework: "cis"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if err := k.scheduleOnce(ctx, f.st, s); err != nil {
		t.Fatal(err)
	}
	if got := count(); got["prod-eu"] != 2 || got["staging"] != 3 || got[""] != 2 {
		t.Fatalf("a day later: %v", got)
	}
	now = now.Add(time.Hour)
	if err := k.scheduleOnce(ctx, f.st, s); err != nil {
		t.Fatal(err)
	}
	if got := count(); got["prod-eu"] != 2 || got[""] != 2 {
		t.Fatalf("an hour later nothing is due, yet: %v", got)
	}
}

// testKeyOther is a key that did not sign the test reports.
func testKeyOther() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed([]byte("some-other-signer-seed-32-bytes!"))
}
