// Package trivyscan scans container images with Trivy, used as a library. It is
// linked only by cmd/bailiff-scanner: Trivy is large, and its vulnerability
// database never belongs in the webhook.
package trivyscan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	tdb "github.com/aquasecurity/trivy/pkg/db"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/google/go-containerregistry/pkg/name"
	bolt "go.etcd.io/bbolt"

	"github.com/bailiff/bailiff/pkg/images"
)

// DBOptions configure the vulnerability database.
type DBOptions struct {
	// Dir is where downloaded databases live (one subdirectory each).
	Dir string
	// Mounted, when set, is a read-only directory holding trivy.db and
	// metadata.json (a volume kept current by someone else): it is used as is
	// and never downloaded.
	Mounted string
	// Repositories are the OCI repositories to download from, tried in order;
	// default Trivy's public ones. Point them at a mirror for air-gapped clusters.
	Repositories []string
	// Insecure allows plain HTTP and unverified TLS to the repositories.
	Insecure bool
	// MaxAge is how old (by its UpdatedAt) a database may be before results are
	// no longer trusted; default 72h.
	MaxAge time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// DB owns Trivy's vulnerability database. Trivy keeps one global database
// handle, so every scan holds a read lock and a refresh swaps the database
// under the write lock: a scan sees the old database or the new one, never a
// mix or a closed handle.
type DB struct {
	opts DBOptions

	mu     sync.RWMutex
	dir    string // the directory in use; "" when none
	status images.DBStatus
}

// OpenDB opens the newest database already on disk, if any; Refresh downloads one.
func OpenDB(opts DBOptions) (*DB, error) {
	if opts.Dir == "" && opts.Mounted == "" {
		return nil, errors.New("vulnerability database: a directory or a mounted database is required")
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 72 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.Repositories) == 0 {
		opts.Repositories = []string{tdb.DefaultGCRRepository, tdb.DefaultGHCRRepository}
	}
	d := &DB{opts: opts, status: images.DBStatus{Reason: "vulnerability database missing"}}
	dir := opts.Mounted
	if dir == "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("vulnerability database directory: %w", err)
		}
		dir = d.newestDownload()
	}
	if dir != "" {
		if err := d.swap(dir); err != nil {
			opts.Logger.Warn("vulnerability database on disk is unusable", "dir", dir, "err", err)
		}
	}
	return d, nil
}

// Status describes the database in use now; not Usable when it is missing,
// empty, of another schema or older than MaxAge.
func (d *DB) Status() images.DBStatus {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.statusLocked()
}

func (d *DB) statusLocked() images.DBStatus {
	s := d.status
	if s.Usable && d.opts.Now().Sub(s.UpdatedAt) > d.opts.MaxAge {
		s.Usable = false
		s.Reason = "db stale"
	}
	return s
}

// Read runs fn with the database held for reading.
func (d *DB) Read(fn func(status images.DBStatus) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return fn(d.statusLocked())
}

// NeedsRefresh reports whether the publisher has a newer database by now.
func (d *DB) NeedsRefresh() bool {
	if d.opts.Mounted != "" {
		return false
	}
	s := d.Status()
	return !s.Usable || s.NextUpdate.IsZero() || !d.opts.Now().Before(s.NextUpdate)
}

// Refresh downloads the current database into a new directory, checks it, and
// swaps it in; the old one is removed once no scan uses it. A mounted database
// is only re-read.
func (d *DB) Refresh(ctx context.Context) error {
	if d.opts.Mounted != "" {
		return d.swap(d.opts.Mounted)
	}
	refs := make([]name.Reference, 0, len(d.opts.Repositories))
	for _, r := range d.opts.Repositories {
		var opts []name.Option
		if d.opts.Insecure {
			opts = append(opts, name.Insecure)
		}
		ref, err := name.ParseReference(r, opts...)
		if err != nil {
			return fmt.Errorf("vulnerability database repository %q: %w", r, err)
		}
		refs = append(refs, ref)
	}
	dst, err := os.MkdirTemp(d.opts.Dir, "db-")
	if err != nil {
		return fmt.Errorf("vulnerability database download: %w", err)
	}
	client := tdb.NewClient(dst, true, tdb.WithDBRepository(refs))
	if err := client.Download(ctx, dst, ftypes.RegistryOptions{Insecure: d.opts.Insecure}); err != nil {
		_ = os.RemoveAll(dst)
		return fmt.Errorf("download vulnerability database from %v: %w", d.opts.Repositories, err)
	}
	old := d.currentDir()
	if err := d.swap(dst); err != nil {
		_ = os.RemoveAll(dst)
		return err
	}
	if old != "" && old != dst {
		_ = os.RemoveAll(old)
	}
	d.opts.Logger.Info("vulnerability database updated", "dir", dst, "updated_at", d.Status().UpdatedAt)
	return nil
}

// RefreshLoop refreshes the database whenever the publisher has a newer one,
// checking every interval, until ctx ends. Failures are logged and retried.
func (d *DB) RefreshLoop(ctx context.Context, interval time.Duration) {
	if d.opts.Mounted != "" {
		// Someone else updates the mounted files; notice when they do.
		for {
			if err := d.swap(d.opts.Mounted); err != nil {
				d.opts.Logger.Warn("mounted vulnerability database is unusable", "dir", d.opts.Mounted, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
		}
	}
	for {
		if d.NeedsRefresh() {
			if err := d.Refresh(ctx); err != nil && ctx.Err() == nil {
				d.opts.Logger.Warn("vulnerability database refresh failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Close releases the database.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dir == "" {
		return nil
	}
	d.dir = ""
	return trivydb.Close()
}

func (d *DB) currentDir() string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.dir
}

// swap checks the database in dir and makes it the one in use.
func (d *DB) swap(dir string) error {
	status, err := inspect(dir)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if d.dir == "" {
			d.status = images.DBStatus{Reason: "vulnerability database unusable: " + err.Error()}
		}
		return err
	}
	if d.dir == dir && d.status.UpdatedAt.Equal(status.UpdatedAt) {
		return nil
	}
	if d.dir != "" {
		if err := trivydb.Close(); err != nil {
			return fmt.Errorf("close vulnerability database: %w", err)
		}
		d.dir = ""
		d.status = images.DBStatus{Reason: "vulnerability database missing"}
	}
	if err := tdb.Init(dir); err != nil {
		return fmt.Errorf("open vulnerability database %s: %w", dir, err)
	}
	d.dir, d.status = dir, status
	return nil
}

// inspect reads a database's metadata and checks that it holds data, without
// touching Trivy's global handle.
func inspect(dir string) (images.DBStatus, error) {
	meta, err := metadata.NewClient(dir).Get()
	if err != nil {
		return images.DBStatus{}, fmt.Errorf("vulnerability database metadata in %s: %w", dir, err)
	}
	if meta.Version != trivydb.SchemaVersion {
		return images.DBStatus{}, fmt.Errorf("vulnerability database in %s has schema %d; this scanner reads schema %d",
			dir, meta.Version, trivydb.SchemaVersion)
	}
	if meta.UpdatedAt.IsZero() {
		return images.DBStatus{}, fmt.Errorf("vulnerability database in %s has no update time in its metadata", dir)
	}
	buckets, err := countBuckets(trivydb.Path(dir))
	if err != nil {
		return images.DBStatus{}, err
	}
	if buckets == 0 {
		return images.DBStatus{}, fmt.Errorf("vulnerability database in %s is empty", dir)
	}
	return images.DBStatus{Usable: true, UpdatedAt: meta.UpdatedAt.UTC(), NextUpdate: meta.NextUpdate.UTC()}, nil
}

func countBuckets(path string) (int, error) {
	db, err := bolt.Open(path, 0o444, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("open vulnerability database %s: %w", path, err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func([]byte, *bolt.Bucket) error { n++; return nil })
	})
	if err != nil {
		return 0, fmt.Errorf("read vulnerability database %s: %w", path, err)
	}
	return n, nil
}

// newestDownload is the most recently written usable database under Dir, if any.
func (d *DB) newestDownload() string {
	entries, err := os.ReadDir(d.opts.Dir)
	if err != nil {
		return ""
	}
	var best string
	var bestTime time.Time
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(d.opts.Dir, e.Name())
		status, err := inspect(dir)
		if err != nil {
			continue
		}
		if best == "" || status.UpdatedAt.After(bestTime) {
			best, bestTime = dir, status.UpdatedAt
		}
	}
	return best
}
