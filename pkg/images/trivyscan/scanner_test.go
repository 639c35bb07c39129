package trivyscan

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/test/registrytest"
	"github.com/bailiff/bailiff/test/trivytest"
)

// Tests here share Trivy's one global database handle, so none runs in parallel.

var advisories = []trivytest.Advisory{
	{ID: "CVE-2099-0001", Package: "openssl", Fixed: "3.3.2-r0", Severity: "CRITICAL", Title: "openssl remote code execution"},
	{ID: "CVE-2099-0002", Package: "busybox", Fixed: "1.36.1-r30", Severity: "HIGH"},
	{ID: "CVE-2099-0003", Package: "zlib", Severity: "LOW"}, // no fix
}

var (
	vulnerablePackages = []trivytest.Package{{Name: "openssl", Version: "3.3.1-r0"}, {Name: "busybox", Version: "1.36.1-r29"}, {Name: "zlib", Version: "1.3.1-r1"}}
	cleanPackages      = []trivytest.Package{{Name: "openssl", Version: "3.3.2-r0"}, {Name: "busybox", Version: "1.36.1-r30"}}
)

// fixture is a registry on loopback and a scanner over a database written for the test.
type fixture struct {
	registry string
	db       *DB
	scanner  *Scanner
	now      time.Time
}

func newFixture(t *testing.T, dbUpdated time.Time, advs ...trivytest.Advisory) *fixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	trivytest.WriteDB(t, dir, dbUpdated, advs...)
	return newFixtureOn(t, DBOptions{Mounted: dir})
}

func newFixtureOn(t *testing.T, dbOpts DBOptions) *fixture {
	t.Helper()
	f := &fixture{registry: registrytest.Serve(t, nil), now: time.Now()}
	dbOpts.Now = func() time.Time { return f.now }
	db, err := OpenDB(dbOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	scanner, err := New(Options{DB: db, InsecureRegistries: []string{f.registry}})
	if err != nil {
		t.Fatal(err)
	}
	f.db, f.scanner = db, scanner
	return f
}

func (f *fixture) push(t *testing.T, repoTag string, pkgs []trivytest.Package) images.ScanRequest {
	t.Helper()
	img := trivytest.AlpineImage(t, pkgs, map[string]string{"etc/motd": repoTag})
	digest := registrytest.PushImage(t, f.registry, repoTag, img)
	repo, _, _ := strings.Cut(repoTag, ":")
	return images.ScanRequest{Image: f.registry + "/" + repo + "@" + digest, Digest: digest}
}

func TestScanListsVulnerabilitiesOfInstalledPackages(t *testing.T) {
	updated := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	f := newFixture(t, updated, advisories...)
	tests := []struct {
		name                                   string
		pkgs                                   []trivytest.Package
		critical, high, low, fixable, unlisted int
		ids                                    []string
	}{
		{name: "vulnerable packages are found with their severity and fix", pkgs: vulnerablePackages,
			critical: 1, high: 1, low: 1, fixable: 2, ids: []string{"CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0003"}},
		{name: "packages at the fixed version are clean", pkgs: cleanPackages},
		{name: "an image without packages is clean", pkgs: nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := f.push(t, "app"+string(rune('a'+i))+":1", tt.pkgs)
			s, err := f.scanner.Scan(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if s.Critical != tt.critical || s.High != tt.high || s.Low != tt.low || s.Medium != 0 || s.Fixable != tt.fixable {
				t.Errorf("summary %+v", s)
			}
			var ids []string
			for _, v := range s.Vulnerabilities {
				ids = append(ids, v.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.ids, ",") {
				t.Errorf("vulnerabilities %v, want %v (most severe first)", ids, tt.ids)
			}
			if !s.DBUpdatedAt.Equal(updated) || s.ScannedAt.IsZero() {
				t.Errorf("db_updated_at %v (want %v), scanned_at %v", s.DBUpdatedAt, updated, s.ScannedAt)
			}
			if len(s.Vulnerabilities) > 0 {
				v := s.Vulnerabilities[0]
				if v.Package != "openssl" || v.Installed != "3.3.1-r0" || v.Fixed != "3.3.2-r0" || v.Severity != "critical" {
					t.Errorf("first vulnerability %+v", v)
				}
			}
		})
	}
}

func TestDatabasesThatCannotBeTrustedAreNotUsable(t *testing.T) {
	tests := []struct {
		name   string
		write  func(t *testing.T, dir string)
		age    time.Duration
		reason string
	}{
		{name: "no database at all", write: func(t *testing.T, dir string) {}, reason: "metadata"},
		{name: "an empty database", write: func(t *testing.T, dir string) {
			trivytest.WriteDB(t, dir, time.Now())
		}, reason: "is empty"},
		{name: "a database older than the maximum age", write: func(t *testing.T, dir string) {
			trivytest.WriteDB(t, dir, time.Now().Add(-100*time.Hour), advisories...)
		}, reason: "db stale"},
		{name: "metadata of another schema", write: func(t *testing.T, dir string) {
			trivytest.WriteDB(t, dir, time.Now(), advisories...)
			if err := os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"Version":1,"UpdatedAt":"2026-01-01T00:00:00Z"}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, reason: "schema 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.write(t, dir)
			f := newFixtureOn(t, DBOptions{Mounted: dir})
			status := f.scanner.DB()
			if status.Usable || !strings.Contains(status.Reason, tt.reason) {
				t.Fatalf("status %+v, want unusable because %q", status, tt.reason)
			}
			// The service answers "not scanned" and never scans with it.
			svc := newService(t, f.scanner)
			req := f.push(t, "app:1", vulnerablePackages)
			got := svc.Lookup(context.Background(), []images.ScanRequest{req})[0]
			if got.Status != images.ScanUnavailable || got.Scanned() {
				t.Errorf("lookup %+v, want unavailable", got)
			}
			if _, err := f.scanner.Scan(context.Background(), req); err == nil {
				t.Error("scan with an unusable database succeeded")
			}
		})
	}
}

func TestScanFailuresAreBoundedAndClear(t *testing.T) {
	f := newFixture(t, time.Now(), advisories...)
	garbage := registrytest.Serve(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				_, _ = w.Write([]byte("this is not a manifest"))
				return
			}
			w.WriteHeader(http.StatusOK)
		})
	})
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name string
		req  images.ScanRequest
		want string
	}{
		{name: "a registry nobody answers", req: images.ScanRequest{Image: "127.0.0.1:1/app@" + digest, Digest: digest}, want: "pull"},
		{name: "a registry answering garbage", req: images.ScanRequest{Image: garbage + "/app@" + digest, Digest: digest}, want: "pull"},
		{name: "a digest the image does not name", req: images.ScanRequest{Image: f.registry + "/app:1", Digest: digest}, want: "not pinned"},
		{name: "a malformed digest", req: images.ScanRequest{Image: f.registry + "/app@sha256:12", Digest: "sha256:12"}, want: "digest"},
	}
	f.scanner.opts.InsecureRegistries = append(f.scanner.opts.InsecureRegistries, garbage, "127.0.0.1:1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := f.scanner.Scan(ctx, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}

	t.Run("an image larger than the limit is refused before its layers are read", func(t *testing.T) {
		req := f.push(t, "big:1", vulnerablePackages)
		small, err := New(Options{DB: f.db, InsecureRegistries: []string{f.registry}, MaxImageBytes: 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := small.Scan(context.Background(), req); err == nil || !strings.Contains(err.Error(), "more than the 10") {
			t.Fatalf("error %v", err)
		}
	})
}

// countingScanner counts the scans that reach Trivy.
type countingScanner struct {
	*Scanner
	scans atomic.Int64
}

func (c *countingScanner) Scan(ctx context.Context, req images.ScanRequest) (images.Summary, error) {
	c.scans.Add(1)
	return c.Scanner.Scan(ctx, req)
}

func newService(t *testing.T, scanner images.Scanner) *images.ScanService {
	t.Helper()
	svc, err := images.NewScanService(images.ScanServiceOptions{Scanner: scanner, Workers: 2, RetryBase: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return svc
}

// waitScanned polls the service until the digest has a result other than pending.
func waitScanned(t *testing.T, svc *images.ScanService, req images.ScanRequest) images.ScanResult {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		r := svc.Lookup(context.Background(), []images.ScanRequest{req})[0]
		if r.Status != images.ScanPending {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s still pending after 2 minutes", req.Image)
	return images.ScanResult{}
}

func TestTheSameDigestIsScannedOnceHoweverManyAskForIt(t *testing.T) {
	f := newFixture(t, time.Now(), advisories...)
	counting := &countingScanner{Scanner: f.scanner}
	svc := newService(t, counting)
	req := f.push(t, "shared:1", vulnerablePackages)

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			r := svc.Lookup(context.Background(), []images.ScanRequest{req, req})
			for _, x := range r {
				if x.Status != images.ScanPending && x.Status != images.ScanDone {
					t.Errorf("lookup %+v", x)
				}
			}
		})
	}
	wg.Wait()
	got := waitScanned(t, svc, req)
	if !got.Scanned() || got.Summary.Critical != 1 {
		t.Fatalf("result %+v", got)
	}
	for range 10 {
		svc.Lookup(context.Background(), []images.ScanRequest{req})
	}
	if n := counting.scans.Load(); n != 1 {
		t.Errorf("%d scans of one digest, want 1", n)
	}
}

func TestARegistryOutageFailsTheScanWithItsReason(t *testing.T) {
	f := newFixture(t, time.Now(), advisories...)
	svc := newService(t, f.scanner)
	digest := "sha256:" + strings.Repeat("cd", 32)
	req := images.ScanRequest{Image: "127.0.0.1:1/app@" + digest, Digest: digest}
	f.scanner.opts.InsecureRegistries = append(f.scanner.opts.InsecureRegistries, "127.0.0.1:1")
	got := waitScanned(t, svc, req)
	if got.Status != images.ScanFailed || !strings.Contains(got.Reason, "127.0.0.1:1") {
		t.Fatalf("result %+v, want failed naming the registry", got)
	}
	if reason := got.UnscannedReason(); !strings.HasPrefix(reason, "failed: ") {
		t.Errorf("unscanned reason %q", reason)
	}
}

func TestARefreshedDatabaseIsSwappedInAndRescans(t *testing.T) {
	old := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	dir := filepath.Join(t.TempDir(), "mounted")
	trivytest.WriteDB(t, dir, old) // empty: nothing is usable yet
	f := newFixtureOn(t, DBOptions{Mounted: dir})
	svc := newService(t, f.scanner)
	req := f.push(t, "app:1", vulnerablePackages)
	if r := svc.Lookup(context.Background(), []images.ScanRequest{req})[0]; r.Status != images.ScanUnavailable {
		t.Fatalf("with an empty database: %+v", r)
	}

	// The mounted database is replaced (as a ConfigMap or volume update would) with one
	// that knows only the low vulnerability, then with one that knows all three.
	replace := func(updated time.Time, advs ...trivytest.Advisory) {
		next := filepath.Join(t.TempDir(), "next")
		trivytest.WriteDB(t, next, updated, advs...)
		for _, name := range []string{"trivy.db", "metadata.json"} {
			if err := os.Rename(filepath.Join(next, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.db.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	replace(old, advisories[2])
	first := waitScanned(t, svc, req)
	if !first.Scanned() || first.Summary.Critical != 0 || first.Summary.Low != 1 {
		t.Fatalf("first scan %+v", first)
	}
	newer := old.Add(time.Hour)
	replace(newer, advisories...)
	if got := f.scanner.DB().UpdatedAt; !got.Equal(newer) {
		t.Fatalf("database updated at %v after the swap, want %v", got, newer)
	}
	// The older result is served while the rescan runs, then replaced.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := svc.Lookup(context.Background(), []images.ScanRequest{req})[0]
		if r.Scanned() && r.Summary.DBUpdatedAt.Equal(newer) {
			if r.Summary.Critical != 1 {
				t.Fatalf("rescan %+v", r.Summary)
			}
			break
		}
		if !r.Scanned() {
			t.Fatalf("lookup during the rescan %+v: the previous result should be served", r)
		}
		if time.Now().After(deadline) {
			t.Fatal("no rescan with the new database")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTheDatabaseIsDownloadedFromAnOCIRepository(t *testing.T) {
	registry := registrytest.Serve(t, nil)
	published := filepath.Join(t.TempDir(), "published")
	updated := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	trivytest.WriteDB(t, published, updated, advisories...)
	registrytest.PushImage(t, registry, "mirror/trivy-db:2", trivytest.DBArtifact(t, published))

	cache := t.TempDir()
	f := newFixtureOn(t, DBOptions{Dir: cache, Repositories: []string{registry + "/mirror/trivy-db:2"}, Insecure: true})
	if f.scanner.DB().Usable || !f.db.NeedsRefresh() {
		t.Fatalf("a fresh cache directory should need a download: %+v", f.scanner.DB())
	}
	if err := f.db.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := f.scanner.DB(); !s.Usable || !s.UpdatedAt.Equal(updated) {
		t.Fatalf("after download: %+v", s)
	}
	req := f.push(t, "app:1", vulnerablePackages)
	s, err := f.scanner.Scan(context.Background(), req)
	if err != nil || s.Critical != 1 {
		t.Fatalf("scan after download: %+v, %v", s, err)
	}

	// A restarted scanner finds the downloaded database without downloading again.
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenDB(DBOptions{Dir: cache, Repositories: []string{"127.0.0.1:1/nowhere:2"}, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if s := again.Status(); !s.Usable || !s.UpdatedAt.Equal(updated) {
		t.Fatalf("after restart: %+v", s)
	}
	// And a download that fails keeps the database in use.
	if err := again.Refresh(context.Background()); err == nil {
		t.Fatal("download from a closed port succeeded")
	}
	if s := again.Status(); !s.Usable {
		t.Fatalf("a failed refresh dropped the database: %+v", s)
	}
}

// BenchmarkScanSmallImage is a full Trivy scan of a small image from a loopback
// registry: pull, analysis, and vulnerability detection.
func BenchmarkScanSmallImage(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "db")
	trivytest.WriteDB(b, dir, time.Now(), advisories...)
	registry := registrytest.Serve(b, nil)
	db, err := OpenDB(DBOptions{Mounted: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	scanner, err := New(Options{DB: db, InsecureRegistries: []string{registry}})
	if err != nil {
		b.Fatal(err)
	}
	img := trivytest.AlpineImage(b, vulnerablePackages, nil)
	digest := registrytest.PushImage(b, registry, "app:1", img)
	req := images.ScanRequest{Image: registry + "/app@" + digest, Digest: digest}
	for b.Loop() {
		s, err := scanner.Scan(context.Background(), req)
		if err != nil || s.Critical != 1 {
			b.Fatalf("%+v, %v", s, err)
		}
	}
}
