package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/bailiff/bailiff/pkg/policy"
)

// Reloader rebuilds the policy set when the configuration file or a policy directory
// changes. A set that fails keeps the running one serving; the failure is logged,
// counted and shown by Status until a reload succeeds.
type Reloader struct {
	engine   *policy.Engine
	files    policy.Files
	metrics  *Metrics
	logger   *slog.Logger
	debounce time.Duration

	mu      sync.Mutex
	lastErr error
	lastAt  time.Time
}

// NewReloader reloads engine from files when they change.
func NewReloader(engine *policy.Engine, files policy.Files, metrics *Metrics, logger *slog.Logger) *Reloader {
	return &Reloader{engine: engine, files: files, metrics: metrics, logger: logger, debounce: 250 * time.Millisecond}
}

// Reload rebuilds the set now.
func (r *Reloader) Reload(ctx context.Context) error {
	opts, err := r.files.Options()
	if err == nil {
		err = r.engine.Reload(ctx, opts)
	}
	r.mu.Lock()
	r.lastErr, r.lastAt = err, time.Now()
	r.mu.Unlock()
	r.metrics.Reloaded(err == nil)
	if err != nil {
		r.logger.Error("policy or configuration reload failed; the previous set keeps serving", "error", err)
		return err
	}
	r.logger.Info("policies and configuration reloaded", "version", r.engine.Set().Version())
	return nil
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
// it also sees a ConfigMap volume swapping its ..data symlink.
func (r *Reloader) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy files: %w", err)
	}
	defer w.Close()
	var dirs []string
	if r.files.ConfigFile != "" {
		dirs = append(dirs, filepath.Dir(r.files.ConfigFile))
	}
	dirs = append(dirs, r.files.PolicyDirs...)
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watch %s: %w", d, err)
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
