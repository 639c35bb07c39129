package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/serve"
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
		insecureRegistries []string
		pullSecrets        bool
		scanner            scannerFlags
	)
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve the validating and mutating admission webhook",
		Long: `Webhook serves /validate and /mutate (AdmissionReview v1) over HTTPS, with /healthz,
/readyz and /metrics. Policies and configuration reload when their files change; a set that
fails keeps the running one serving.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			logger := newLogger(logFormat)
			for _, fp := range []string{validateFailure, mutateFailure} {
				if fp != string(webhook.Fail) && fp != string(webhook.Ignore) {
					return &exitError{code: exitUsage, err: fmt.Errorf("failure policy %q must be Fail or Ignore", fp)}
				}
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
			metrics := webhook.NewMetrics()
			reloader := webhook.NewReloader(engine, pf.files(), metrics, logger)
			var clusterCache *webhook.ClusterCache
			var keychains webhook.Keychains
			if !noCluster {
				cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
					&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig, Precedence: clientcmd.NewDefaultClientConfigLoadingRules().Precedence},
					&clientcmd.ConfigOverrides{}).ClientConfig()
				if err != nil {
					return fmt.Errorf("connect to the API server for the namespace and storage class caches (or run with --no-cluster): %w", err)
				}
				client, err := kubernetes.NewForConfig(cfg)
				if err != nil {
					return err
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
				Metrics:          metrics,
				Logger:           logger,
			})
			server, err := webhook.Listen(webhook.ServerOptions{
				Addr: addr, CertDir: certDir, Handler: handler, Logger: logger,
				Ready: func() (bool, string) {
					if clusterCache != nil && !clusterCache.Synced() {
						return false, "namespace and storage class caches not synced yet"
					}
					return true, reloader.Status()
				},
			})
			if err != nil {
				return err
			}
			g, ctx := errgroup.WithContext(ctx)
			if clusterCache != nil {
				g.Go(func() error { return clusterCache.Start(ctx) })
			}
			g.Go(func() error { return reloader.Watch(ctx) })
			g.Go(func() error { return server.Run(ctx) })
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
	f.StringSliceVar(&tlsHosts, "tls-host", []string{"localhost", "127.0.0.1"}, "DNS names and IPs the self-signed certificate covers")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig for the namespace and storage class caches (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.BoolVar(&noCluster, "no-cluster", false, "run without an API server: no namespace or storage class context (for benchmarks and local tests)")
	f.StringSliceVar(&exemptNamespaces, "exempt-namespaces", defaultExemptNamespaces(), "namespaces allowed without evaluation")
	f.StringVar(&validateFailure, "validate-failure-policy", string(webhook.Fail), "when validation cannot be evaluated: Fail (refuse) or Ignore (allow)")
	f.StringVar(&mutateFailure, "mutate-failure-policy", string(webhook.Ignore), "when mutation cannot be evaluated: Fail (refuse) or Ignore (allow unchanged)")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "evaluation budget per request; past it the failure policy answers")
	f.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	f.BoolVar(&pullSecrets, "pull-secrets", false, "resolve digests with each workload's imagePullSecrets and its service account's (needs get on secrets and serviceaccounts)")
	f.StringSliceVar(&insecureRegistries, "insecure-registries", nil, "registry hosts reached over plain HTTP when resolving image digests (local mirrors only)")
	scanner.register(cmd)
	return cmd
}

// defaultExemptNamespaces are kube-system and the webhook's own namespace.
func defaultExemptNamespaces() []string {
	out := []string{"kube-system"}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
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

func newLogger(format string) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, nil))
}
