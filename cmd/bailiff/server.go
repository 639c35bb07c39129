package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/bailiff/bailiff/pkg/serve"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/reports"
	"github.com/bailiff/bailiff/server"
)

// storeFlagHelp describes --store wherever it appears.
const storeFlagHelp = "the store: sqlite:///abs/path.db, sqlite://relative/path.db or postgres://user@host/db (default $BAILIFF_STORE, else sqlite://bailiff.db in the working directory)"

// defaultStore is $BAILIFF_STORE, which keeps a database password off the
// command line, or an SQLite file in the working directory for local use.
func defaultStore() string {
	if dsn := os.Getenv("BAILIFF_STORE"); dsn != "" {
		return dsn
	}
	return "sqlite://bailiff.db"
}

// redactDSN hides a DSN's password, for logs.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "@") {
			return "(store DSN not shown)"
		}
		return dsn
	}
	return u.Redacted()
}

func newServerCommand() *cobra.Command {
	var (
		addr           string
		storeDSN       string
		certDir        string
		selfSigned     bool
		tlsHosts       []string
		insecureHTTP   bool
		adminTokenFile string
		logFormat      string
		pprofAddr      string
		rf             serverReportFlags
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Serve the central store: trail ingest from clusters, queries and verification for auditors",
		Long: `Server receives the audit trails of clusters (POST /api/v1/events) and answers auditors
(GET /api/v1/events, /api/v1/findings, /api/v1/clusters/{cluster}/verify) over HTTPS, with
/healthz, /readyz and /metrics. Every call needs a bearer token: create the first one with
"bailiff server token create" or --admin-token-file.

It makes compliance reports (POST /api/v1/reports, and every --report-interval for every
cluster and the fleet), signs them with --report-key and keeps them; auditors browse them,
with the trail and findings behind them, at /ui/ after signing in with their token.

The server keeps no state of its own: several replicas may share one PostgreSQL store (and
one report key). If the store cannot be reached the server keeps retrying, says why in its
log, and is not ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			logger := newLogger(logFormat)
			if selfSigned && insecureHTTP {
				return &exitError{code: exitUsage, err: errors.New("--tls-self-signed and --insecure-http exclude each other")}
			}
			var adminToken string
			if adminTokenFile != "" {
				t, err := readToken(adminTokenFile)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				if len(t) < minTokenLength {
					return &exitError{code: exitUsage, err: fmt.Errorf("the admin token in %s has %d characters; use at least %d random ones (openssl rand -base64 32)", adminTokenFile, len(t), minTokenLength)}
				}
				adminToken = t
			}
			if selfSigned {
				if _, err := serve.SelfSigned(certDir, tlsHosts, 365*24*time.Hour); err != nil {
					return err
				}
				logger.Info("generated a self-signed CA and serving certificate", "certDir", certDir, "ca", filepath.Join(certDir, serve.CAFile))
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			metrics := server.NewMetrics()
			if !insecureHTTP {
				metrics.Registry.MustRegister(serve.NewCertificateCollector(l.Addr()))
			}
			keeper, err := rf.keeper(ctx, storeDSN, logger)
			if err != nil {
				l.Close()
				return err
			}
			srv := server.New(server.Options{
				Open:       func(ctx context.Context) (store.Store, error) { return store.Open(ctx, storeDSN) },
				StoreName:  redactDSN(storeDSN),
				AdminToken: adminToken,
				Reports:    keeper,
				Metrics:    metrics,
				Logger:     logger,
			})
			defer srv.Close()
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return srv.Connect(gctx) })
			if keeper != nil && rf.interval > 0 {
				g.Go(func() error {
					srv.StartReports(gctx, reports.Scheduled{Every: rf.interval})
					return nil
				})
			}
			g.Go(func() error {
				return srv.Serve(gctx, l, server.ServeOptions{CertDir: certDir, InsecureHTTP: insecureHTTP})
			})
			if pprofAddr != "" {
				g.Go(func() error { return servePprof(gctx, pprofAddr, logger) })
			}
			if err := g.Wait(); err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", ":8443", "address to serve on")
	f.StringVar(&storeDSN, "store", defaultStore(), storeFlagHelp)
	f.StringVar(&certDir, "cert-dir", "/etc/bailiff/tls", "directory holding tls.crt and tls.key (reloaded when they change)")
	f.BoolVar(&selfSigned, "tls-self-signed", false, "generate a CA and serving certificate into --cert-dir (the CA is written as ca.crt)")
	f.StringSliceVar(&tlsHosts, "tls-host", []string{"localhost", "127.0.0.1"}, "DNS names and IPs the self-signed certificate covers")
	f.BoolVar(&insecureHTTP, "insecure-http", false, "serve plain HTTP instead of HTTPS, for local demos only: tokens cross the network in the clear")
	f.StringVar(&adminTokenFile, "admin-token-file", "", `file holding a token to install as the "admin" credential at start (e.g. a mounted Secret)`)
	f.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	f.StringVar(&pprofAddr, "pprof-addr", "", "address to serve Go's /debug/pprof on, for profiling (default: off; keep it on loopback)")
	rf.register(cmd)
	cmd.AddCommand(newServerTokenCommand())
	return cmd
}

func newServerTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create and delete the server's API tokens, directly in the store",
	}
	cmd.AddCommand(newServerTokenCreateCommand(), newServerTokenDeleteCommand())
	return cmd
}

func newServerTokenCreateCommand() *cobra.Command {
	var (
		req       server.CredentialRequest
		storeDSN  string
		tokenFile string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a credential and print its token (shown only this once)",
		Long: `Create stores a credential and prints its new token on standard output, the only time it
is ever shown; the store keeps only its SHA-256. Roles: cluster (writes the events of --cluster),
auditor (reads everything), admin (everything, including credentials). Creating a credential
whose name exists replaces it, which rotates its token.

With --token-file the credential gets the token in that file (surrounding whitespace removed,
at least 32 characters) instead of a new one, and nothing is printed on standard output: a
token generated elsewhere (a Helm chart, a secret manager) then works without copying it.`,
		Example: `  TOKEN=$(bailiff server token create --name prod-eu --role cluster --cluster prod-eu --store sqlite:///var/lib/bailiff/bailiff.db)
  bailiff server token create --name prod-eu --role cluster --cluster prod-eu --token-file /etc/bailiff/cluster-token/token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := server.ValidateCredential(req); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			var given string
			if tokenFile != "" {
				t, err := readToken(tokenFile)
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--token-file: %w", err)}
				}
				if len(t) < minTokenLength {
					return &exitError{code: exitUsage, err: fmt.Errorf("the token in %s has %d characters; use at least %d random ones (openssl rand -base64 32)", tokenFile, len(t), minTokenLength)}
				}
				given = t
			}
			st, err := store.Open(cmd.Context(), storeDSN)
			if err != nil {
				return err
			}
			defer st.Close()
			if given != "" {
				if err := server.InstallCredential(cmd.Context(), st, req, given, cliUser()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "created %s credential %q%s in %s with the token in %s\n",
					req.Role, req.Name, clusterNote(req.Cluster), redactDSN(storeDSN), tokenFile)
				return nil
			}
			token, err := server.CreateCredential(cmd.Context(), st, req, cliUser())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			fmt.Fprintf(cmd.ErrOrStderr(), "created %s credential %q%s in %s; the token above is shown only once\n",
				req.Role, req.Name, clusterNote(req.Cluster), redactDSN(storeDSN))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "the credential's name (required)")
	f.StringVar(&req.Role, "role", "", "cluster, auditor or admin (required)")
	f.StringVar(&req.Cluster, "cluster", "", "the cluster a cluster credential writes for")
	f.StringVar(&storeDSN, "store", defaultStore(), storeFlagHelp)
	f.StringVar(&tokenFile, "token-file", "", "file holding the token to install (at least 32 characters) instead of generating one; nothing is printed")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("role")
	return cmd
}

// minTokenLength is the shortest token accepted from a file.
const minTokenLength = server.MinTokenLength

func newServerTokenDeleteCommand() *cobra.Command {
	var name, storeDSN string
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a credential; its token stops working at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := store.Open(cmd.Context(), storeDSN)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := server.DeleteCredential(cmd.Context(), st, name, cliUser()); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return &exitError{code: exitUsage, err: fmt.Errorf("no credential named %q", name)}
				}
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "deleted credential %q\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the credential's name (required)")
	cmd.Flags().StringVar(&storeDSN, "store", defaultStore(), storeFlagHelp)
	cmd.MarkFlagRequired("name")
	return cmd
}

func clusterNote(cluster string) string {
	if cluster == "" {
		return ""
	}
	return " for cluster " + cluster
}

// cliUser names who ran a credential command, for the server's trail.
func cliUser() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// readToken reads a token from a file, as Kubernetes mounts a Secret.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return token, nil
}
