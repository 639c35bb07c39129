package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

func newTrailCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trail",
		Short: "Work with the tamper-evident audit trail",
	}
	cmd.AddCommand(newTrailVerifyCommand())
	return cmd
}

func newTrailVerifyCommand() *cobra.Command {
	var (
		cluster        string
		from, to       string
		fromSeq, toSeq int64
		storeDSN       string
		serverURL      string
		tokenFile      string
		caFile         string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Prove a range of a cluster's trail unbroken",
		Long: `Verify recomputes the hash of every event of a cluster's trail in the range, checks that
each links to the one before it and that no position is missing, and prints a one-line summary.
Without --cluster it verifies the trail of every cluster, a line each.
It reads the store directly (--store) or asks a server (--server, with an auditor's token).

Exit codes: 0 the range is intact, 1 the trail is broken (the first broken event is named),
2 verification could not run.`,
		Example: `  bailiff trail verify --store sqlite:///var/lib/bailiff/bailiff.db
  bailiff trail verify --cluster prod-eu --store sqlite:///var/lib/bailiff/bailiff.db
  bailiff trail verify --cluster prod-eu --from 2025-01-01 --to 2025-04-01 \
      --server https://bailiff.example.com --token-file auditor.token --ca-file ca.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r := trail.Range{FromSeq: fromSeq, ToSeq: toSeq}
			var err error
			if r.From, err = optionalTime("from", from); err != nil {
				return err
			}
			if r.To, err = optionalTime("to", to); err != nil {
				return err
			}
			if cluster == "" && (fromSeq != 0 || toSeq != 0) {
				return &exitError{code: exitUsage, err: errors.New("--from-seq and --to-seq are positions in one cluster's chain: name it with --cluster")}
			}
			if serverURL != "" && cmd.Flags().Changed("store") {
				return &exitError{code: exitUsage, err: errors.New("verify through --store or --server, not both")}
			}
			var v trailVerifier
			if serverURL != "" {
				if tokenFile == "" {
					return &exitError{code: exitUsage, err: errors.New("--server needs --token-file with an auditor's token")}
				}
				token, err := readToken(tokenFile)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				hc, err := httpClient(caFile)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				client, err := trail.NewClient(serverURL, token, hc)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				v = trailVerifier{verify: client.Verify, clusters: client.Clusters}
			} else {
				if err := sqliteFileExists(storeDSN); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				st, err := store.Open(ctx, storeDSN)
				if err != nil {
					return err
				}
				defer st.Close()
				v = trailVerifier{
					verify: func(ctx context.Context, cluster string, r trail.Range) (trail.VerifyResult, error) {
						return trail.Verify(ctx, st, cluster, r)
					},
					clusters: st.Clusters,
				}
			}
			clusters := []string{cluster}
			if cluster == "" {
				if clusters, err = v.clustersWithTrail(ctx); err != nil {
					return err
				}
				if len(clusters) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no cluster has a trail yet")
					return nil
				}
			}
			broken := false
			for _, c := range clusters {
				res, err := v.verify(ctx, c, r)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), res.String())
				broken = broken || !res.OK
			}
			if broken {
				return &exitError{code: exitDenied}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cluster, "cluster", "", "the cluster whose trail to verify (default: every cluster with a trail)")
	f.StringVar(&from, "from", "", "verify from this time on (RFC 3339 or a date, inclusive)")
	f.StringVar(&to, "to", "", "verify up to this time (RFC 3339 or a date, exclusive)")
	f.Int64Var(&fromSeq, "from-seq", 0, "verify from this chain position on (inclusive)")
	f.Int64Var(&toSeq, "to-seq", 0, "verify up to this chain position (inclusive)")
	f.StringVar(&storeDSN, "store", defaultStore(), storeFlagHelp)
	f.StringVar(&serverURL, "server", "", "ask this Bailiff server instead of reading the store, e.g. https://bailiff.example.com")
	f.StringVar(&tokenFile, "token-file", "", "file holding an auditor's or admin's token, for --server")
	f.StringVar(&caFile, "ca-file", "", "PEM file of the CA that signed the server's certificate, if not a public one")
	return cmd
}

// trailVerifier verifies trails through a store or a server.
type trailVerifier struct {
	verify   func(ctx context.Context, cluster string, r trail.Range) (trail.VerifyResult, error)
	clusters func(ctx context.Context) ([]store.ClusterInfo, error)
}

// clustersWithTrail names the clusters that have at least one event.
func (v trailVerifier) clustersWithTrail(ctx context.Context) ([]string, error) {
	all, err := v.clusters(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range all {
		if c.Head != nil {
			names = append(names, c.Name)
		}
	}
	return names, nil
}

// optionalTime parses a time flag; empty is the zero time, an open end.
func optionalTime(flag, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	t, err := trail.ParseTime(value)
	if err != nil {
		return time.Time{}, &exitError{code: exitUsage, err: fmt.Errorf("--%s: %w", flag, err)}
	}
	return t, nil
}

// sqliteFileExists refuses an SQLite DSN naming no file: opening it would
// create an empty store, which verifies as intact.
func sqliteFileExists(dsn string) error {
	rest, ok := strings.CutPrefix(dsn, "sqlite://")
	if !ok {
		return nil
	}
	if _, err := os.Stat(filepath.FromSlash(rest)); err != nil {
		return fmt.Errorf("no store at %s: name it with --store or $BAILIFF_STORE", rest)
	}
	return nil
}

// httpClient trusts the system's CAs and, if caFile is set, the CA in it.
func httpClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return http.DefaultClient, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return &http.Client{Transport: transport}, nil
}
