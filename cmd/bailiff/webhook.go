package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/logs"
	"github.com/bailiff/bailiff/pkg/serve"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/pkg/webhooktls"
	"github.com/bailiff/bailiff/webhook"
)

func newWebhookCommand() *cobra.Command {
	var (
		pf                 policyFlags
		addr               string
		certDir            string
		selfSigned         bool
		tlsHosts           []string
		kubeconfig         string
		noCluster          bool
		exemptNamespaces   []string
		validateFailure    string
		mutateFailure      string
		timeout            time.Duration
		logFormat          string
		pprofAddr          string
		insecureRegistries []string
		pullSecrets        bool
		scanner            scannerFlags
		trailFlags         trailEmitterFlags
		selfManaged        selfManagedTLSFlags
		gc                 gcFlags
	)
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve the validating and mutating admission webhook",
		Long: `Webhook serves /validate and /mutate (AdmissionReview v1) over HTTPS, with /healthz,
/readyz and /metrics. Policies and configuration reload when their files change; a set that
fails keeps the running one serving.

With --trail-server, every answer, every exemption used and every policy-set load or
rejection is recorded in the audit trail: queued in memory, then on disk (--trail-queue-dir),
then delivered to the Bailiff server. Recording never delays or fails admission.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			logger := newLogger(logFormat)
			for _, fp := range []string{validateFailure, mutateFailure} {
				if fp != string(webhook.Fail) && fp != string(webhook.Ignore) {
					return &exitError{code: exitUsage, err: fmt.Errorf("failure policy %q must be Fail or Ignore", fp)}
				}
			}
			if err := selfManaged.validate(selfSigned, noCluster); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			gcTuning, err := gc.parse()
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if selfSigned {
				if _, err := serve.SelfSigned(certDir, tlsHosts, 365*24*time.Hour); err != nil {
					return err
				}
				logger.Info("generated a self-signed CA and serving certificate", "certDir", certDir, "caBundle", filepath.Join(certDir, serve.CAFile))
			}
			engine, err := pf.engine(ctx)
			if err != nil {
				return err
			}
			// Tuned once the policies are compiled: compiling leaves much garbage, which
			// the runtime's defaults collect promptly.
			gcTuning.Apply(logger)
			metrics := webhook.NewMetrics()
			reloader := webhook.NewReloader(engine, pf.files(), metrics, logger)
			var clusterCache *webhook.ClusterCache
			var keychains webhook.Keychains
			var client kubernetes.Interface
			var namespace string
			if !noCluster {
				loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
					&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig, Precedence: clientcmd.NewDefaultClientConfigLoadingRules().Precedence},
					&clientcmd.ConfigOverrides{})
				cfg, err := loader.ClientConfig()
				if err != nil {
					return fmt.Errorf("connect to the API server for the namespace and storage class caches (or run with --no-cluster): %w", err)
				}
				if client, err = kubernetes.NewForConfig(cfg); err != nil {
					return err
				}
				if namespace = os.Getenv("POD_NAMESPACE"); namespace == "" {
					namespace, _, _ = loader.Namespace()
				}
				clusterCache = webhook.NewClusterCache(client, 10*time.Minute)
				if pullSecrets {
					keychains = webhook.PodPullSecrets(client)
				}
			}
			resolver := images.NewResolver(images.ResolverOptions{InsecureRegistries: insecureRegistries})
			scans, err := scanner.client()
			if err != nil {
				return err
			}
			emitter, err := trailFlags.emitter(engine.Set().Config().Cluster.Name, metrics.Registry, logger)
			if err != nil {
				return err
			}
			var auditor webhook.Auditor
			if emitter == nil {
				logger.Info("no --trail-server: admission decisions are not recorded in the audit trail")
			} else {
				// Deferred first, so it runs last: after the handler's decisions reach it,
				// its memory queue goes to disk for the next start to deliver.
				defer closeWithin(logger, "trail events lost at shutdown", emitter.Close)
				trailAuditor := webhook.NewTrailAuditor(emitter, instanceName())
				auditor = trailAuditor
				reloader.WithAuditor(trailAuditor).RecordStart(ctx)
				logger.Info("recording admission decisions in the audit trail", "server", trailFlags.server,
					"cluster", trailFlags.clusterOr(engine.Set().Config().Cluster.Name), "queueDir", trailFlags.queueDir)
			}
			handler := webhook.NewHandler(webhook.Options{
				Engine: engine,
				Images: webhook.ImageFacts(webhook.ImageFactsOptions{
					Resolver:   resolver,
					PinDigests: func() bool { return engine.Set().Config().Images.PinDigests },
					Keychains:  keychains,
					Scans:      scans,
					Budget:     scanner.budget,
				}),
				Cluster:          clusterContextOrNil(clusterCache),
				ExemptNamespaces: exemptNamespaces,
				ValidateFailure:  webhook.FailurePolicy(validateFailure),
				MutateFailure:    webhook.FailurePolicy(mutateFailure),
				Timeout:          timeout,
				Auditor:          auditor,
				Metrics:          metrics,
				Logger:           logger,
			})
			// Runs once the server has drained: the last decisions go to the emitter.
			defer closeWithin(logger, "admission decisions lost at shutdown", handler.Close)
			// With self-managed TLS the certificate must be in --cert-dir before the port
			// opens: until then a caller is refused at once rather than left hanging.
			var tlsManager *webhooktls.Manager
			var server *webhook.Server
			if selfManaged.enabled {
				served := func(ctx context.Context) (*x509.Certificate, error) {
					return serve.ServedCertificate(ctx, server.Addr())
				}
				tlsManager, err = selfManaged.manager(client, namespace, tlsHosts, certDir, served, logger)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				initCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				err = tlsManager.Init(initCtx)
				cancel()
				if err != nil {
					return err
				}
			}
			server, err = webhook.Listen(webhook.ServerOptions{
				Addr: addr, CertDir: certDir, Handler: handler, Logger: logger,
				Ready: func() (bool, string) {
					if clusterCache != nil && !clusterCache.Synced() {
						return false, "namespace and storage class caches not synced yet"
					}
					if tlsManager != nil {
						ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
						defer cancel()
						if ok, why := tlsManager.Ready(ctx); !ok {
							return false, why
						}
					}
					return true, reloader.Status()
				},
			})
			if err != nil {
				return err
			}
			metrics.Registry.MustRegister(serve.NewCertificateCollector(server.Addr()))
			g, ctx := errgroup.WithContext(ctx)
			if tlsManager != nil {
				g.Go(func() error { return tlsManager.Run(ctx) })
			}
			if clusterCache != nil {
				g.Go(func() error { return clusterCache.Start(ctx) })
			}
			g.Go(func() error { return reloader.Watch(ctx) })
			g.Go(func() error { return server.Run(ctx) })
			if pprofAddr != "" {
				g.Go(func() error { return servePprof(ctx, pprofAddr, logger) })
			}
			if scans != nil {
				g.Go(func() error {
					scans.FollowDB(ctx, scanner.dbInterval, func(err error) {
						logger.Warn("cannot ask the scanner which vulnerability database it uses", "error", err)
					})
					return nil
				})
			}
			if err := g.Wait(); err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		},
	}
	pf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&addr, "addr", ":8443", "address to serve HTTPS on")
	f.StringVar(&certDir, "cert-dir", "/etc/bailiff/tls", "directory holding tls.crt and tls.key (reloaded when they change)")
	f.BoolVar(&selfSigned, "tls-self-signed", false, "generate a CA and serving certificate into --cert-dir (the CA is written as ca.crt)")
	f.StringSliceVar(&tlsHosts, "tls-host", []string{"localhost", "127.0.0.1"}, "DNS names and IPs the self-signed or self-managed certificate covers; the first is the name the API server calls")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig for the namespace and storage class caches (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.BoolVar(&noCluster, "no-cluster", false, "run without an API server: no namespace or storage class context (for benchmarks and local tests)")
	f.StringSliceVar(&exemptNamespaces, "exempt-namespaces", defaultExemptNamespaces(), "namespaces allowed without evaluation")
	f.StringVar(&validateFailure, "validate-failure-policy", string(webhook.Fail), "when validation cannot be evaluated: Fail (refuse) or Ignore (allow)")
	f.StringVar(&mutateFailure, "mutate-failure-policy", string(webhook.Ignore), "when mutation cannot be evaluated: Fail (refuse) or Ignore (allow unchanged)")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "evaluation budget per request; past it the failure policy answers")
	f.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	f.StringVar(&pprofAddr, "pprof-addr", "", "address to serve Go's /debug/pprof on, for profiling (default: off; keep it on loopback)")
	f.BoolVar(&pullSecrets, "pull-secrets", false, "resolve digests with each workload's imagePullSecrets and its service account's (needs get on secrets and serviceaccounts)")
	f.StringSliceVar(&insecureRegistries, "insecure-registries", nil, "registry hosts reached over plain HTTP when resolving image digests (local mirrors only)")
	selfManaged.register(cmd)
	scanner.register(cmd)
	trailFlags.register(cmd)
	gc.register(cmd)
	return cmd
}

// gcFlags tune the garbage collector of a server with a small live heap.
type gcFlags struct {
	percent     int
	memoryLimit string
}

func (g *gcFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&g.percent, "gc-percent", 200, "GOGC once the policies are compiled: collect when the heap has grown this many percent past the live heap (GOGC in the environment wins)")
	f.StringVar(&g.memoryLimit, "memory-limit", "", "soft limit on the Go runtime's memory, e.g. 384Mi (GOMEMLIMIT; in the environment it wins): the collector works harder near it; keep it below the container's limit (default: none)")
}

// parse checks the flags and returns the tuning they ask for.
func (g *gcFlags) parse() (serve.GC, error) {
	tuning := serve.GC{Percent: g.percent}
	if g.memoryLimit != "" {
		limit, err := resource.ParseQuantity(g.memoryLimit)
		if err != nil {
			return tuning, fmt.Errorf("--memory-limit %q is not a quantity such as 384Mi: %w", g.memoryLimit, err)
		}
		tuning.MemoryLimit = limit.Value()
	}
	if tuning.Percent < 0 || tuning.MemoryLimit < 0 {
		return tuning, fmt.Errorf("--gc-percent and --memory-limit must not be negative")
	}
	return tuning, nil
}

// selfManagedTLSFlags configure --tls-self-managed: the webhook's own CA, kept in a
// Secret shared by the replicas and published in the webhook configurations' caBundle.
type selfManagedTLSFlags struct {
	enabled                  bool
	secret                   string
	caValidity, certValidity time.Duration
	validating, mutating     string
}

func (s *selfManagedTLSFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&s.enabled, "tls-self-managed", false, "create a CA and serving certificate, keep them in --tls-secret (shared by every replica), write them into --cert-dir, renew and rotate them, and keep the caBundle of the webhook configurations up to date")
	f.StringVar(&s.secret, "tls-secret", "", "with --tls-self-managed: the Secret in $POD_NAMESPACE holding the CA and serving certificate (it must exist; it may be empty)")
	f.DurationVar(&s.caValidity, "tls-ca-validity", 87600*time.Hour, "with --tls-self-managed: lifetime of the CA; a new one is published beside it two thirds into its life")
	f.DurationVar(&s.certValidity, "tls-cert-validity", 2160*time.Hour, "with --tls-self-managed: lifetime of the serving certificate; renewed two thirds into its life")
	f.StringVar(&s.validating, "validating-webhook-configuration", "", "with --tls-self-managed: the ValidatingWebhookConfiguration whose caBundle the webhook keeps")
	f.StringVar(&s.mutating, "mutating-webhook-configuration", "", "with --tls-self-managed: the MutatingWebhookConfiguration whose caBundle the webhook keeps")
}

func (s *selfManagedTLSFlags) validate(selfSigned, noCluster bool) error {
	if !s.enabled {
		if s.secret != "" || s.validating != "" || s.mutating != "" {
			return errors.New("--tls-secret, --validating-webhook-configuration and --mutating-webhook-configuration need --tls-self-managed")
		}
		return nil
	}
	switch {
	case selfSigned:
		return errors.New("--tls-self-signed and --tls-self-managed exclude each other")
	case noCluster:
		return errors.New("--tls-self-managed keeps its CA in a Secret and needs the API server: drop --no-cluster")
	case s.secret == "":
		return errors.New("--tls-self-managed needs --tls-secret, the Secret that holds the CA")
	case s.validating == "" && s.mutating == "":
		return errors.New("--tls-self-managed needs --validating-webhook-configuration or --mutating-webhook-configuration, whose caBundle it keeps")
	}
	return nil
}

func (s *selfManagedTLSFlags) manager(client kubernetes.Interface, namespace string, hosts []string, certDir string,
	served func(context.Context) (*x509.Certificate, error), logger *slog.Logger) (*webhooktls.Manager, error) {
	if namespace == "" {
		return nil, errors.New("--tls-self-managed needs the namespace of --tls-secret: set $POD_NAMESPACE")
	}
	return webhooktls.New(webhooktls.Options{
		Client: client, Namespace: namespace, SecretName: s.secret,
		ValidatingWebhookConfiguration: s.validating, MutatingWebhookConfiguration: s.mutating,
		Hosts: hosts, CAValidity: s.caValidity, CertValidity: s.certValidity, CertDir: certDir,
		Served: served, Logger: logger,
	})
}

// trailEmitterFlags say where a cluster component sends its audit trail.
type trailEmitterFlags struct {
	server, tokenFile, caFile, queueDir, diskBudget, cluster string
	batchDelay                                               time.Duration
}

func (t *trailEmitterFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&t.server, "trail-server", "", "the Bailiff server receiving the audit trail, e.g. https://bailiff.example.com; empty: nothing is recorded")
	f.StringVar(&t.tokenFile, "trail-token-file", "/etc/bailiff/trail-token/token", "file holding the cluster's token for --trail-server (bailiff server token create --role cluster)")
	f.StringVar(&t.caFile, "trail-ca-file", "", "CA bundle that signed the trail server's certificate (default: the system's)")
	f.StringVar(&t.queueDir, "trail-queue-dir", "/var/lib/bailiff/trail", "directory of the durable trail queue; one per replica, on a volume that outlives restarts")
	f.StringVar(&t.diskBudget, "trail-disk-budget", "256Mi", "most disk the trail queue may take while the server is unreachable (bytes, or a quantity such as 512Mi); past it events are dropped and counted")
	f.StringVar(&t.cluster, "cluster", "", "the cluster's name in the trail (default: cluster.name of the configuration at start)")
	f.DurationVar(&t.batchDelay, "trail-batch-delay", time.Second, "how long events gather on disk into a batch before delivery (0: deliver at once); a steady trickle then costs the server one transaction per batch, not per event")
}

func (t *trailEmitterFlags) clusterOr(configured string) string {
	if t.cluster != "" {
		return t.cluster
	}
	return configured
}

// emitter returns nil when no trail server is configured.
func (t *trailEmitterFlags) emitter(configuredCluster string, reg prometheus.Registerer, logger *slog.Logger) (*trail.Emitter, error) {
	if t.server == "" {
		return nil, nil
	}
	cluster := t.clusterOr(configuredCluster)
	if cluster == "" {
		return nil, &exitError{code: exitUsage, err: errors.New("the trail needs the cluster's name: set --cluster or cluster.name in the configuration")}
	}
	budget, err := resource.ParseQuantity(t.diskBudget)
	if err != nil || budget.Sign() <= 0 {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--trail-disk-budget %q: want a positive size such as 256Mi", t.diskBudget)}
	}
	token, err := readToken(t.tokenFile)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--trail-token-file: %w", err)}
	}
	hc, err := httpClient(t.caFile)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--trail-ca-file: %w", err)}
	}
	// A server that accepts the connection and never answers must not hold a batch forever.
	hc = &http.Client{Transport: hc.Transport, Timeout: 30 * time.Second}
	e, err := trail.NewEmitter(trail.EmitterOptions{
		ServerURL: t.server, Token: token, Cluster: cluster, QueueDir: t.queueDir, DiskBytes: budget.Value(),
		BatchDelay: t.batchDelay, HTTPClient: hc, Logger: logger, Registerer: reg,
	})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("audit trail: %w", err)}
	}
	return e, nil
}

// closeWithin calls close with a few seconds to finish, logging what it reports.
func closeWithin(logger *slog.Logger, what string, close func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := close(ctx); err != nil {
		logger.Error(what, "error", err)
	}
}

// instanceName names this replica in config events: the pod's name, else the host's.
func instanceName() string {
	if name := os.Getenv("POD_NAME"); name != "" {
		return name
	}
	name, _ := os.Hostname()
	return name
}

// serviceAccountNamespaceFile holds the namespace of the pod a process runs in.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// defaultExemptNamespaces are kube-system and the webhook's own namespace: $POD_NAMESPACE,
// or in a pod without it, the pod's namespace from its service account. Outside a pod
// there is no namespace of its own (a kubeconfig's is the user's, not the webhook's).
func defaultExemptNamespaces() []string {
	out := []string{"kube-system"}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		b, _ := os.ReadFile(serviceAccountNamespaceFile) // absent outside a pod
		ns = strings.TrimSpace(string(b))
	}
	if ns != "" && ns != "kube-system" {
		out = append(out, ns)
	}
	return out
}

func clusterContextOrNil(c *webhook.ClusterCache) webhook.ClusterContext {
	if c == nil {
		return nil
	}
	return c
}

func newLogger(format string) *slog.Logger { return logs.New(os.Stderr, format) }
