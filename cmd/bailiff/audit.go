package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bailiff/bailiff/pkg/audit"
	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/webhook"
)

func newAuditCommand() *cobra.Command {
	var (
		pf                 policyFlags
		kubeconfig         string
		interval           time.Duration
		insecureRegistries []string
		debounce           time.Duration
		leaderElect        bool
		leaderNamespace    string
		storeDSN           string
		serverURL          string
		tokenFile          string
		serverCAFile       string
		cluster            string
		reportMaxResults   int
		noReports          bool
		metricsAddr        string
		healthAddr         string
		pprofAddr          string
		logFormat          string
		exemptNamespaces   []string
		workers            int
		refreshAfter       time.Duration
		once               bool
		queueDir           string
		queueBudget        string
		scanner            scannerFlags
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Evaluate what already runs in the cluster, continuously",
		Long: `Audit watches every kind the policies apply to (with Namespaces and StorageClasses for
input.context), evaluates each object when it changes and all of them in a full sweep every
--interval and after every policy or configuration change, and keeps every result: findings and
their trail events go to the store (--store) or the central server (--server), through a
durable queue on disk with --queue-dir, and bounded
PolicyReports (wgpolicyk8s.io/v1alpha2, one per namespace plus a ClusterPolicyReport) go to the
cluster for existing report viewers. Only the elected leader evaluates and writes.

Memory: the watched objects are cached without managedFields, kubectl's last-applied annotation
and status. GOGC defaults to 50 here (set GOGC or GOMEMLIMIT to choose otherwise).`,
		Example: `  bailiff audit --config /etc/bailiff/config.yaml --server https://bailiff.example.com --token-file /etc/bailiff/token
  bailiff audit --kubeconfig ~/.kube/config --store sqlite:///tmp/bailiff.db --leader-elect=false --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			logger := newLogger(logFormat)
			if os.Getenv("GOGC") == "" {
				// The auditor keeps every watched object for its whole life and idles
				// between sweeps: collecting twice as often lowers its peak memory by
				// about a quarter for little CPU.
				debug.SetGCPercent(50)
			}
			if (storeDSN == "") == (serverURL == "") {
				return &exitError{code: exitUsage, err: errors.New("send results to a store (--store or $BAILIFF_STORE) or to a server (--server with --token-file), one of the two")}
			}
			budget, err := resource.ParseQuantity(queueBudget)
			if err != nil || budget.Value() < audit.MinQueueBudget {
				return &exitError{code: exitUsage, err: fmt.Errorf("--queue-disk-budget %q: want a size of at least %dMi, such as 256Mi", queueBudget, audit.MinQueueBudget>>20)}
			}
			engine, err := pf.engine(ctx)
			if err != nil {
				return err
			}
			sink, closeSink, err := auditSink(ctx, storeDSN, serverURL, tokenFile, serverCAFile)
			if err != nil {
				return err
			}
			defer closeSink()
			cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
				&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig, Precedence: clientcmd.NewDefaultClientConfigLoadingRules().Precedence},
				&clientcmd.ConfigOverrides{}).ClientConfig()
			if err != nil {
				return fmt.Errorf("connect to the API server: %w", err)
			}
			// Watches are long-running and not rate limited; this bounds the
			// report writes and owner lookups.
			cfg.QPS, cfg.Burst = 50, 100
			mgr, err := manager.New(cfg, manager.Options{
				Scheme: scheme.Scheme,
				Cache: cache.Options{
					DefaultTransform:             audit.Trim,
					DefaultUnsafeDisableDeepCopy: new(true),
					ReaderFailOnMissingInformer:  true,
				},
				LeaderElection:                leaderElect,
				LeaderElectionID:              "bailiff-audit",
				LeaderElectionNamespace:       leaderNamespace,
				LeaderElectionReleaseOnCancel: true,
				Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
				HealthProbeBindAddress:        healthAddr,
				PprofBindAddress:              pprofAddr,
			})
			if err != nil {
				return fmt.Errorf("start the controller manager: %w", err)
			}
			if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
				return err
			}
			if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
				return err
			}
			metrics, err := audit.NewMetrics(crmetrics.Registry)
			if err != nil {
				return err
			}
			scans, err := scanner.client()
			if err != nil {
				return err
			}
			imageFacts := audit.NoScanner
			var scanDB audit.ScanDatabase
			if scans != nil {
				scanDB = scans
				imageFacts = audit.ImageFacts(webhook.ImageFacts(webhook.ImageFactsOptions{
					Resolver: images.NewResolver(images.ResolverOptions{InsecureRegistries: insecureRegistries}),
					Scans:    scans,
					Budget:   scanner.budget,
				}))
			}
			auditor, err := audit.New(mgr, audit.Options{
				Engine:           engine,
				Sink:             sink,
				Cluster:          cluster,
				Interval:         interval,
				Debounce:         debounce,
				Workers:          workers,
				RefreshAfter:     refreshAfter,
				ExemptNamespaces: exemptNamespaces,
				Images:           imageFacts,
				ScanDB:           scanDB,
				ScanDBInterval:   scanner.dbInterval,
				QueueDir:         queueDir,
				QueueBudget:      budget.Value(),
				Reports:          audit.ReportOptions{Disabled: noReports, MaxResults: reportMaxResults},
				Once:             once,
				Metrics:          metrics,
				Logger:           logger,
			})
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			logger.Info("auditing", "cluster", auditor.Cluster(), "sink", sink.Name(), "interval", interval, "leaderElection", leaderElect)
			g, gctx := errgroup.WithContext(ctx)
			mctx, stopManager := context.WithCancel(gctx)
			defer stopManager()
			g.Go(func() error { return mgr.Start(mctx) })
			if once {
				g.Go(func() error {
					select {
					case <-auditor.Done():
						stopManager()
						return auditor.Err()
					case <-gctx.Done():
						return nil // the manager's error, if any, is the one to report
					}
				})
			} else if pf.configFile != "" || len(pf.policyDirs) > 0 {
				reloader := webhook.NewReloader(engine, pf.files(), webhook.NewMetrics(), logger)
				g.Go(func() error { return reloader.Watch(mctx) })
			}
			if err := g.Wait(); err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		},
	}
	pf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.DurationVar(&interval, "interval", time.Hour, "time between full sweeps (a sweep also follows every policy or configuration change)")
	f.DurationVar(&debounce, "debounce", time.Second, "how long a changed object waits before it is evaluated, so a burst of changes is evaluated once")
	f.BoolVar(&leaderElect, "leader-elect", true, "elect one leader among replicas (a Lease); only the leader evaluates and writes")
	f.StringVar(&leaderNamespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the leader-election Lease (default: $POD_NAMESPACE, or the pod's own in-cluster)")
	f.StringVar(&storeDSN, "store", os.Getenv("BAILIFF_STORE"), "write results to this store directly: sqlite:///abs/path.db or postgres://user@host/db (default $BAILIFF_STORE)")
	f.StringVar(&serverURL, "server", "", "send results to the central server at this URL (https://host:port), with --token-file")
	f.StringVar(&tokenFile, "token-file", "/etc/bailiff/token/token", "file holding the cluster credential's token, for --server")
	f.StringVar(&serverCAFile, "server-ca-file", "", "CA bundle that signed the server's certificate (default: the system's)")
	f.StringVar(&cluster, "cluster", "", "the cluster's name in findings and the trail (default: cluster.name from --config)")
	f.StringSliceVar(&insecureRegistries, "insecure-registries", nil, "registry hosts reached over plain HTTP when resolving image digests (local mirrors only)")
	f.IntVar(&reportMaxResults, "report-max-results", audit.DefaultReportMaxResults, "most results each PolicyReport lists (failures first); the summary counts all, the store keeps all")
	f.BoolVar(&noReports, "no-reports", false, "write no PolicyReports (findings still go to the store or server)")
	f.StringVar(&metricsAddr, "metrics-addr", ":8080", `address to serve /metrics on ("0" turns it off)`)
	f.StringVar(&healthAddr, "health-addr", ":8081", `address to serve /healthz and /readyz on ("0" turns it off)`)
	f.StringVar(&pprofAddr, "pprof-addr", "", "address to serve Go's /debug/pprof on, for profiling (default: off)")
	f.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	f.StringSliceVar(&exemptNamespaces, "exempt-namespaces", defaultExemptNamespaces(), "namespaces not evaluated, as at admission")
	f.IntVar(&workers, "workers", 0, "objects evaluated in parallel (default: one per CPU)")
	f.DurationVar(&refreshAfter, "store-refresh", 24*time.Hour, "rewrite an unchanged result to the store after this long, to move its findings' last-seen time")
	f.BoolVar(&once, "once", false, "run one full sweep, write the reports and exit")
	f.StringVar(&queueDir, "queue-dir", "", "directory of a durable queue of results on their way to the store or server; one per replica, on a volume that outlives restarts (empty: results wait in memory, only each object's latest, and a restart loses what was not delivered)")
	f.StringVar(&queueBudget, "queue-disk-budget", "256Mi", "most disk the --queue-dir queue may take while the store or server is unreachable (bytes, or a quantity such as 512Mi; at least 32Mi); past it results wait in memory, each object's latest, and are counted")
	scanner.register(cmd)
	return cmd
}

// auditSink opens where results go: a store directly, or the server.
func auditSink(ctx context.Context, storeDSN, serverURL, tokenFile, caFile string) (audit.Sink, func(), error) {
	if storeDSN != "" {
		st, err := store.Open(ctx, storeDSN)
		if err != nil {
			return nil, nil, err
		}
		return audit.StoreSink{Store: st, Label: redactDSN(storeDSN)}, func() { st.Close() }, nil
	}
	token, err := readToken(tokenFile)
	if err != nil {
		return nil, nil, &exitError{code: exitUsage, err: fmt.Errorf("--server needs the cluster credential's token (--token-file): %w", err)}
	}
	hc, err := httpClient(caFile)
	if err != nil {
		return nil, nil, &exitError{code: exitUsage, err: err}
	}
	sink, err := audit.NewServerSink(serverURL, token, &http.Client{Transport: hc.Transport, Timeout: 30 * time.Second})
	if err != nil {
		return nil, nil, &exitError{code: exitUsage, err: err}
	}
	return sink, func() {}, nil
}
