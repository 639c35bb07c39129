package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/reports"
)

// serverReportFlags say how bailiff server signs and schedules compliance reports.
type serverReportFlags struct {
	pf       policyFlags
	keyFile  string
	interval time.Duration
	off      bool
}

func (f *serverReportFlags) register(cmd *cobra.Command) {
	f.pf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.keyFile, "report-key", defaultReportKey(), "the Ed25519 key reports are signed with, PEM, created if missing; replicas must share one "+
		"(default $BAILIFF_REPORT_KEY, else report.key beside an SQLite store)")
	fl.DurationVar(&f.interval, "report-interval", 24*time.Hour, "how often every cluster's (and the fleet's) report is made and kept, for trends (0: only on request)")
	fl.BoolVar(&f.off, "no-reports", false, "make no compliance reports (the reports API answers 503)")
}

// keeper builds the report keeper, or returns nil when reports are off: asked to be, or
// no key given for a store other than an SQLite file.
func (f *serverReportFlags) keeper(ctx context.Context, storeDSN string, logger *slog.Logger) (*reports.Keeper, error) {
	if f.off {
		logger.Info("compliance reports are off (--no-reports)")
		return nil, nil
	}
	keyFile := f.keyFile
	if keyFile == "" {
		rest, ok := strings.CutPrefix(storeDSN, "sqlite://")
		if !ok {
			logger.Warn("compliance reports are off: give --report-key (one key file shared by every replica) to make them")
			return nil, nil
		}
		keyFile = filepath.Join(filepath.Dir(filepath.FromSlash(rest)), "report.key")
	}
	key, created, err := reports.LoadOrCreateKey(keyFile)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	if created {
		logger.Info("created the report signing key; give auditors its public key", "key", keyFile, "publicKey", keyFile+".pub")
	}
	engine, err := f.pf.engine(ctx)
	if err != nil {
		return nil, err
	}
	cat, err := compliance.Load()
	if err != nil {
		return nil, err
	}
	return &reports.Keeper{
		Key:    key,
		Logger: logger,
		Generator: reports.Generator{
			Catalogue:        cat,
			Policies:         reports.PoliciesOf(engine.Set()),
			PolicySetVersion: engine.Set().Version(),
			Version:          version,
		},
	}, nil
}
