package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/bailiff/bailiff/pkg/serve"
	"github.com/bailiff/bailiff/test/poll"
)

// servedOverTLS runs a Server for h with ready as its readiness check until the test
// ends, and returns its URL and a client that trusts it.
func servedOverTLS(t *testing.T, h *Handler, ready ReadinessCheck) (string, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	if _, err := serve.SelfSigned(dir, []string{"localhost", "127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	srv, err := Listen(ServerOptions{Addr: "127.0.0.1:0", CertDir: dir, Handler: h, Ready: ready})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	ca, err := os.ReadFile(filepath.Join(dir, serve.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + srv.Addr().String()
	poll.Until(t, "the server", func() bool {
		resp, err := client.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return url, client
}

// get fetches url and returns its status and body.
func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestReadyzReportsCacheSyncAndFailedReloadsOverHTTP serves /readyz as `bailiff
// webhook` composes it: not ready until the cluster caches hold their first lists,
// then ready, with the reloader's status as the detail. A failed reload keeps the
// running set serving, so the webhook stays ready and says what failed.
func TestReadyzReportsCacheSyncAndFailedReloadsOverHTTP(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("podSecurity: {level: restricted}\n")
	metrics := NewMetrics()
	engine, reloader := watchedEngine(t, cfgFile, metrics)
	cache := NewClusterCache(fake.NewClientset(), time.Hour)
	h := NewHandler(Options{Engine: engine, Cluster: cache, Metrics: metrics})
	url, client := servedOverTLS(t, h, func() (bool, string) {
		if !cache.Synced() {
			return false, "namespace and storage class caches not synced yet"
		}
		return true, reloader.Status()
	})
	serving := engine.Set().Version()

	status, body := get(t, client, url+"/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "caches not synced") {
		t.Errorf("before the caches sync: HTTP %d %q, want 503 saying the caches are not synced", status, body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name, config string
		reloadFails  bool
		want         []string // in the body
		unwanted     []string
	}{
		{"once synced it is ready and names the set serving", "", false,
			[]string{"serving policy set " + serving}, []string{"failed"}},
		{"a failed reload leaves it ready, serving the old set, and says what failed", "podSecurity: {level: strict}\n", true,
			[]string{"serving policy set " + serving, "; the reload at ", " failed and was not applied: ", "podSecurity.level"}, nil},
		{"a good reload clears the failure", "podSecurity: {level: baseline}\n", false,
			[]string{"serving policy set "}, []string{"failed", serving}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.config != "" {
				write(step.config)
				if err := reloader.Reload(context.Background()); (err != nil) != step.reloadFails {
					t.Fatalf("reload error = %v, want failure %v", err, step.reloadFails)
				}
			}
			status, body := get(t, client, url+"/readyz")
			if status != http.StatusOK {
				t.Errorf("HTTP %d %q, want 200", status, body)
			}
			for _, want := range step.want {
				if !strings.Contains(body, want) {
					t.Errorf("body %q lacks %q", body, want)
				}
			}
			for _, unwanted := range step.unwanted {
				if strings.Contains(body, unwanted) {
					t.Errorf("body %q has %q", body, unwanted)
				}
			}
			// Whatever the reload did, admission keeps answering.
			resp, err := client.Post(url+"/validate", "application/json", strings.NewReader(review("CREATE", "shop", compliantPod, "")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/validate: HTTP %d", resp.StatusCode)
			}
		})
	}
}
