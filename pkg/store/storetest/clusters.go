package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/bailiff/bailiff/pkg/store"
)

func testClusters(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	t.Run("an empty store has none", func(t *testing.T) {
		s := open(t)
		cs, err := s.Clusters(ctx)
		if err != nil || len(cs) != 0 {
			t.Errorf("Clusters = %+v, %v", cs, err)
		}
	})

	t.Run("lists clusters with events, objects or both", func(t *testing.T) {
		s := open(t)
		appendOK(t, s, "west", events("west", "w1", "w2", "w3"))
		appendOK(t, s, "east", events("east", "e1"))
		api := web
		api.UID = "uid-api"
		syncOK(t, s, web, at(1), violation("limits", "no memory limit"), violation("latest", "image uses :latest"))
		syncOK(t, s, api, at(1))
		gone := web
		gone.UID = "uid-gone"
		syncOK(t, s, gone, at(1), violation("limits", "no memory limit"))
		if _, err := s.ForgetObject(ctx, "east", "uid-gone", at(2)); err != nil {
			t.Fatal(err)
		}
		north := web
		north.Cluster = "north"
		syncOK(t, s, north, at(1))

		cs, err := s.Clusters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		equalIDs(t, "clusters", names, []string{"east", "north", "west"})
		head, err := s.ChainHead(ctx, "west")
		if err != nil {
			t.Fatal(err)
		}
		east, north2, west := cs[0], cs[1], cs[2]
		if west.Head == nil || west.Head.Seq != 3 || west.Head.Hash != head.Hash || !west.Head.Time.Equal(head.Time) || west.Objects != 0 {
			t.Errorf("west = %+v, head %+v; want the chain head at 3", west, west.Head)
		}
		if east.Head == nil || east.Head.Seq != 1 || east.Objects != 2 || east.OpenFindings != 2 || east.OpenBySeverity["high"] != 2 || len(east.OpenBySeverity) != 1 {
			t.Errorf("east = %+v; want head 1, 2 objects (one deleted is not counted), 2 open findings", east)
		}
		if north2.Head != nil || north2.Objects != 1 || north2.OpenFindings != 0 {
			t.Errorf("north = %+v; want no chain, one object", north2)
		}
	})
}

func testOpenFindingsByPolicy(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	api := web
	api.UID = "uid-api"
	syncOK(t, s, web, at(1), violation("limits", "no memory limit"), violation("limits", "no cpu request"), violation("latest", "image uses :latest"))
	syncOK(t, s, api, at(1), violation("limits", "no memory limit"))
	syncOK(t, s, api, at(2)) // resolved: not counted
	other := web
	other.Cluster = "west"
	syncOK(t, s, other, at(1), violation("latest", "image uses :latest"))

	got, err := s.OpenFindingsByPolicy(ctx, "east")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.PolicyFindings{
		{PolicyID: "limits", Severity: "high", Findings: 2, Objects: 1},
		{PolicyID: "latest", Severity: "high", Findings: 1, Objects: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OpenFindingsByPolicy = %+v, want %+v", got, want)
	}
	if none, err := s.OpenFindingsByPolicy(ctx, "nowhere"); err != nil || len(none) != 0 {
		t.Errorf("an unknown cluster: %+v, %v", none, err)
	}
	// Findings of one object, resolved ones included.
	of := allFindings(t, s, store.FindingQuery{Cluster: "east", UID: "uid-api"})
	if len(of) != 1 || of[0].ResolvedAt == nil {
		t.Errorf("findings of uid-api: %v", describeAll(of))
	}
}
