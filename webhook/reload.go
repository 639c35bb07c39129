package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/bailiff/bailiff/pkg/policy"
)

// Reloader rebuilds the policy set when the configuration file or a policy directory
// changes. A set that fails keeps the running one serving; the failure is logged,
// counted and shown by Status until a reload succeeds. With an auditor, every load and
// rejection is recorded in the audit trail.
type Reloader struct {
	engine   *policy.Engine
	files    policy.Files
	metrics  *Metrics
	logger   *slog.Logger
	debounce time.Duration
	auditor  ReloadAuditor // nil records nothing

	mu      sync.Mutex
	lastErr error
	lastAt  time.Time
}

// NewReloader reloads engine from files when they change.
func NewReloader(engine *policy.Engine, files policy.Files, metrics *Metrics, logger *slog.Logger) *Reloader {
	return &Reloader{engine: engine, files: files, metrics: metrics, logger: logger, debounce: 250 * time.Millisecond}
}

// WithAuditor records every load and rejection with a. Call it before Reload, Watch
// or RecordStart.
func (r *Reloader) WithAuditor(a ReloadAuditor) *Reloader {
	r.auditor = a
	return r
}

// RecordStart records the set the engine was built with as loaded at start.
func (r *Reloader) RecordStart(ctx context.Context) {
	if r.auditor == nil {
		return
	}
	set := r.engine.Set()
	r.auditor.RecordReload(ctx, ReloadOutcome{
		Time: time.Now(), Trigger: ReloadAtStart, Version: set.Version(),
		SourceDigest: sourceDigest(r.files), Files: r.files, Policies: len(set.Policies()),
	})
}

// Reload rebuilds the set now.
func (r *Reloader) Reload(ctx context.Context) error {
	previous := r.engine.Set().Version()
	opts, err := r.files.Options()
	if err == nil {
		err = r.engine.Reload(ctx, opts)
	}
	r.mu.Lock()
	r.lastErr, r.lastAt = err, time.Now()
	r.mu.Unlock()
	r.metrics.Reloaded(err == nil)
	set := r.engine.Set()
	// A file touched without a change builds the same set again: nothing to record.
	if r.auditor != nil && (err != nil || set.Version() != previous) {
		r.auditor.RecordReload(ctx, ReloadOutcome{
			Time: time.Now(), Trigger: ReloadOnChange, Err: err, Version: set.Version(), PreviousVersion: previous,
			SourceDigest: sourceDigest(r.files), Files: r.files, Policies: len(set.Policies()),
		})
	}
	if err != nil {
		r.logger.Error("policy or configuration reload failed; the previous set keeps serving", "error", err)
		return err
	}
	r.logger.Info("policies and configuration reloaded", "version", set.Version())
	return nil
}

// sourceDigest is "sha256:" and the hex SHA-256 of the files a set is read from on
// disk, as they are now: the configuration file and every .rego file of the policy
// directories, each with its name. A file that cannot be read counts as its error, so
// the digest still tells sets apart. The embedded library is part of the binary and
// of the set's version, not of this digest.
func sourceDigest(files policy.Files) string {
	h := sha256.New()
	add := func(name string, b []byte, err error) {
		if err != nil {
			b = []byte("error: " + err.Error())
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	if files.ConfigFile != "" {
		b, err := os.ReadFile(files.ConfigFile)
		add(files.ConfigFile, b, err)
	}
	for _, dir := range files.PolicyDirs {
		fsys := os.DirFS(dir)
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || path.Ext(p) != ".rego" {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			add(filepath.Join(dir, filepath.FromSlash(p)), b, err)
			return nil
		})
		if err != nil {
			add(dir, nil, err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Status describes the last reload for /readyz.
func (r *Reloader) Status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	version := r.engine.Set().Version()
	if r.lastErr != nil {
		return fmt.Sprintf("serving policy set %s; the reload at %s failed and was not applied: %v", version, r.lastAt.Format(time.RFC3339), r.lastErr)
	}
	return fmt.Sprintf("serving policy set %s", version)
}

// Watch reloads on every change until ctx ends. It watches directories, not files, so
// it also sees a ConfigMap volume swapping its ..data symlink: the configuration file's
// directory, and each policy directory with every folder under it (policies are read
// from all of them), including folders created later.
func (r *Reloader) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy files: %w", err)
	}
	defer w.Close()
	if r.files.ConfigFile != "" {
		d := filepath.Dir(r.files.ConfigFile)
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watch %s: %w", d, err)
		}
	}
	for _, d := range r.files.PolicyDirs {
		if err := watchTree(w, d); err != nil {
			return err
		}
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Has(fsnotify.Create) && r.inPolicyDir(ev.Name) {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					if err := watchTree(w, ev.Name); err != nil {
						r.logger.Warn("cannot watch a new policy folder; its changes need a restart or another change to be seen", "error", err)
					}
				}
			}
			// Editors and ConfigMap updates write in several steps: wait for quiet.
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(r.debounce, func() {
				select {
				case fire <- struct{}{}:
				default:
				}
			})
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.logger.Warn("file watch error", "error", err)
		case <-fire:
			_ = r.Reload(ctx) // reported through Status, metrics and logs
		}
	}
}

// watchTree adds a watch on dir and on every folder under it, except a ConfigMap
// volume's "..…" folders, which the loader skips too (their swap shows in dir itself).
func watchTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("watch %s: %w", p, err)
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && strings.HasPrefix(d.Name(), "..") {
			return fs.SkipDir
		}
		if err := w.Add(p); err != nil {
			return fmt.Errorf("watch %s: %w", p, err)
		}
		return nil
	})
}

// inPolicyDir reports whether name is inside one of the policy directories.
func (r *Reloader) inPolicyDir(name string) bool {
	for _, d := range r.files.PolicyDirs {
		if rel, err := filepath.Rel(d, name); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return true
		}
	}
	return false
}
