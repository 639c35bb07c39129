package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/bailiff/bailiff/pkg/store"
)

func testScans(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	put := func(t *testing.T, s store.Store, r store.ScanRecord) {
		t.Helper()
		if err := s.PutScan(ctx, r); err != nil {
			t.Fatalf("PutScan: %v", err)
		}
	}
	get := func(t *testing.T, s store.Store, digest string) store.ScanRecord {
		t.Helper()
		r, err := s.Scan(ctx, digest)
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		return r
	}
	scan := store.ScanRecord{
		Digest: "sha256:aaaa", ScannedAt: at(10), DBUpdatedAt: at(-60),
		Result: json.RawMessage(`{"critical": 1, "high":2 }`),
	}

	t.Run("keeps a scan exactly", func(t *testing.T) {
		s := open(t)
		put(t, s, scan)
		want := scan
		want.ScannedAt, want.DBUpdatedAt = stored(scan.ScannedAt), stored(scan.DBUpdatedAt)
		if got := get(t, s, scan.Digest); !reflect.DeepEqual(got, want) {
			t.Errorf("Scan returned\n%#v\nwant\n%#v", got, want)
		}
	})

	t.Run("replaces a scan with a newer one and not with an older one", func(t *testing.T) {
		s := open(t)
		put(t, s, scan)
		newer := scan
		newer.ScannedAt, newer.Result = at(20), json.RawMessage(`{"critical":0}`)
		put(t, s, newer)
		if got := get(t, s, scan.Digest); string(got.Result) != `{"critical":0}` || !got.ScannedAt.Equal(stored(at(20))) {
			t.Errorf("after a newer scan: %s at %v", got.Result, got.ScannedAt)
		}
		older := scan
		older.ScannedAt, older.Result = at(15), json.RawMessage(`{"critical":9}`)
		put(t, s, older)
		if got := get(t, s, scan.Digest); string(got.Result) != `{"critical":0}` {
			t.Errorf("an older scan replaced a newer one: %s", got.Result)
		}
	})

	t.Run("has no scan of an unknown digest", func(t *testing.T) {
		s := open(t)
		put(t, s, scan)
		if _, err := s.Scan(ctx, "sha256:bbbb"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Scan of an unknown digest: %v, want ErrNotFound", err)
		}
	})

	t.Run("rejects a scan without a digest", func(t *testing.T) {
		s := open(t)
		if err := s.PutScan(ctx, store.ScanRecord{ScannedAt: t0}); err == nil {
			t.Error("PutScan accepted a scan without a digest")
		}
	})
}

func testCredentials(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	east := store.Credential{Name: "east-writer", Role: store.RoleCluster, Cluster: "east", TokenHash: "h-east", CreatedAt: at(0)}
	auditor := store.Credential{Name: "auditor", Role: store.RoleAuditor, TokenHash: "h-audit", CreatedAt: at(1)}
	put := func(t *testing.T, s store.Store, cs ...store.Credential) {
		t.Helper()
		for _, c := range cs {
			if err := s.PutCredential(ctx, c); err != nil {
				t.Fatalf("PutCredential(%s): %v", c.Name, err)
			}
		}
	}
	lookup := func(t *testing.T, s store.Store, h string) (store.Credential, error) {
		t.Helper()
		return s.CredentialByTokenHash(ctx, h)
	}

	t.Run("finds a credential by its token hash", func(t *testing.T) {
		s := open(t)
		put(t, s, east, auditor)
		got, err := lookup(t, s, "h-east")
		want := east
		want.CreatedAt = stored(east.CreatedAt)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("lookup: %+v, %v; want %+v", got, err, want)
		}
		if _, err := lookup(t, s, "h-unknown"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("lookup of an unknown hash: %v, want ErrNotFound", err)
		}
	})

	t.Run("replaces a credential of the same name", func(t *testing.T) {
		s := open(t)
		put(t, s, east)
		rotated := east
		rotated.TokenHash = "h-east-2"
		put(t, s, rotated)
		if _, err := lookup(t, s, "h-east"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the old token still works: %v", err)
		}
		if got, err := lookup(t, s, "h-east-2"); err != nil || got.Name != east.Name {
			t.Errorf("the new token: %+v, %v", got, err)
		}
	})

	t.Run("deletes a credential", func(t *testing.T) {
		s := open(t)
		put(t, s, east, auditor)
		if err := s.DeleteCredential(ctx, east.Name); err != nil {
			t.Fatal(err)
		}
		if _, err := lookup(t, s, "h-east"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted credential: %v, want ErrNotFound", err)
		}
		if _, err := lookup(t, s, "h-audit"); err != nil {
			t.Errorf("the other credential: %v", err)
		}
		if err := s.DeleteCredential(ctx, east.Name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting it again: %v, want ErrNotFound", err)
		}
	})

	for _, tc := range []struct {
		name string
		c    store.Credential
	}{
		{"rejects a credential without a name", store.Credential{Role: store.RoleAdmin, TokenHash: "h"}},
		{"rejects a credential without a token hash", store.Credential{Name: "n", Role: store.RoleAdmin}},
		{"rejects an unknown role", store.Credential{Name: "n", Role: "root", TokenHash: "h"}},
		{"rejects a cluster credential without a cluster", store.Credential{Name: "n", Role: store.RoleCluster, TokenHash: "h"}},
		{"rejects a token hash another credential holds", store.Credential{Name: "copy", Role: store.RoleAdmin, TokenHash: "h-east"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			put(t, s, east)
			if err := s.PutCredential(ctx, tc.c); err == nil {
				t.Error("PutCredential accepted it")
			}
			if got, err := lookup(t, s, "h-east"); err != nil || got.Name != east.Name {
				t.Errorf("the existing credential afterwards: %+v, %v", got, err)
			}
		})
	}
}

func testCancelledContext(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	appendOK(t, s, "east", events("east", "a"))
	syncOK(t, s, web, at(1), violation("limits", "no memory limit"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"AppendEvents", func() error {
			_, err := s.AppendEvents(ctx, "east", events("east", "b"), Hash)
			return err
		}},
		{"Events", func() error { _, err := s.Events(ctx, store.EventQuery{}); return err }},
		{"ChainHead", func() error { _, err := s.ChainHead(ctx, "east"); return err }},
		{"RecordedHead", func() error { _, _, err := s.RecordedHead(ctx, "east"); return err }},
		{"SyncFindings", func() error {
			_, err := s.SyncFindings(ctx, store.ObjectResult{Object: web, EvaluatedAt: at(2)})
			return err
		}},
		{"Findings", func() error { _, err := s.Findings(ctx, store.FindingQuery{}); return err }},
		{"ForgetObject", func() error { _, err := s.ForgetObject(ctx, web.Cluster, web.UID, at(3)); return err }},
		{"RecordAudit", func() error {
			_, err := s.RecordAudit(ctx, store.AuditBatch{Cluster: "east", Results: []store.ObjectResult{{Object: web, EvaluatedAt: at(2)}}}, Hash)
			return err
		}},
		{"Clusters", func() error { _, err := s.Clusters(ctx); return err }},
		{"OpenFindingsByPolicy", func() error { _, err := s.OpenFindingsByPolicy(ctx, "east"); return err }},
		{"PutReport", func() error { return s.PutReport(ctx, report("r", "east", 1, "cis")) }},
		{"Reports", func() error { _, err := s.Reports(ctx, store.ReportQuery{}); return err }},
		{"Report", func() error { _, err := s.Report(ctx, "r"); return err }},
		{"PutScan", func() error { return s.PutScan(ctx, store.ScanRecord{Digest: "sha256:aaaa", ScannedAt: t0}) }},
		{"Scan", func() error { _, err := s.Scan(ctx, "sha256:aaaa"); return err }},
		{"PutCredential", func() error {
			return s.PutCredential(ctx, store.Credential{Name: "n", Role: store.RoleAdmin, TokenHash: "h"})
		}},
		{"CredentialByTokenHash", func() error { _, err := s.CredentialByTokenHash(ctx, "h"); return err }},
		{"DeleteCredential", func() error { return s.DeleteCredential(ctx, "n") }},
		{"Ping", func() error { return s.Ping(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("with a cancelled context: %v, want context.Canceled", err)
			}
		})
	}

	// Nothing of the above happened.
	if got := allEvents(t, s, store.EventQuery{}); len(got) != 1 {
		t.Errorf("%d events after cancelled calls, want 1", len(got))
	}
	if open := allFindings(t, s, store.FindingQuery{State: "open"}); len(open) != 1 {
		t.Errorf("%d open findings after cancelled calls, want 1", len(open))
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping after cancelled calls: %v", err)
	}
}
