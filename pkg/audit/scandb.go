package audit

import (
	"context"
	"time"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/input"
)

// ScanDatabase is the scanner's vulnerability database as the auditor
// follows it; *images.ScanClient is one.
type ScanDatabase interface {
	// DB asks the scanner which database it uses now.
	DB(ctx context.Context) (images.DBStatus, error)
	// ObserveDB records it, so remembered scans made with an older database
	// are asked for again; it reports whether the database is newer than the
	// one observed before.
	ObserveDB(status images.DBStatus) (newer bool)
}

// followScanDB asks the scanner for its database every interval and tells
// the auditor to sweep, through sweeps, when the database was updated (every
// image may have new vulnerabilities) or when the scanner answers again
// after it could not (images were described as not scanned meanwhile).
func (a *Auditor) followScanDB(ctx context.Context, sweeps chan<- string) {
	var usable, seen bool
	ticker := time.NewTicker(a.opts.ScanDBInterval)
	defer ticker.Stop()
	for {
		askCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		status, err := a.opts.ScanDB.DB(askCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		reason := ""
		switch {
		case err != nil:
			if usable || !seen {
				a.log.Warn("cannot ask the scanner which vulnerability database it uses", "error", err)
			}
			usable = false
		case !status.Usable:
			if usable || !seen {
				a.log.Warn("the scanner has no usable vulnerability database: images are reported as not scanned", "reason", status.Reason)
			}
			usable = false
		default:
			newer := a.opts.ScanDB.ObserveDB(status)
			a.scanDBTime.Store(status.UpdatedAt.UnixNano())
			a.metrics.scanDBUpdated.Set(float64(status.UpdatedAt.Unix()))
			switch {
			case newer:
				reason = "vulnerability database updated to " + status.UpdatedAt.UTC().Format(time.RFC3339)
			case !usable && seen:
				reason = "the scanner's vulnerability database is usable again"
			}
			usable = true
		}
		seen = true
		if reason != "" {
			a.epoch.Add(1) // controllers' remembered violations are out of date
			a.log.Info("re-evaluating every object", "reason", reason)
			select {
			case sweeps <- reason:
			default: // a sweep is already due
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// provisional reports whether image facts will change on their own: a scan
// still pending, or a result made with an older database than the scanner
// uses now (served while it rescans). An object described with them is
// evaluated again once the scanner has had time to finish.
func (a *Auditor) provisional(imgs map[string]input.Image) bool {
	db := time.Unix(0, a.scanDBTime.Load()).Truncate(time.Second) // results carry whole seconds
	for _, img := range imgs {
		if img.UnscannedReason == string(images.ScanPending) {
			return true
		}
		if img.Scan == nil || a.scanDBTime.Load() == 0 {
			continue
		}
		made, err := time.Parse(time.RFC3339, img.Scan.DBUpdatedAt)
		if err == nil && made.Before(db) {
			return true
		}
	}
	return false
}
