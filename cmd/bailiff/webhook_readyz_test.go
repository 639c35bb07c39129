package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAPIServer answers the webhook's Namespace and StorageClass informers: with 503
// until opened, then with empty lists and watches that stay open without events.
type fakeAPIServer struct {
	*httptest.Server
	open atomic.Bool
}

func newFakeAPIServer(t *testing.T) *fakeAPIServer {
	t.Helper()
	f := &fakeAPIServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		status := func(code int, reason string) {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"code":%d}`, reason, code)
		}
		q := r.URL.Query()
		switch {
		case !f.open.Load():
			status(http.StatusServiceUnavailable, "ServiceUnavailable")
		case q.Get("sendInitialEvents") == "true":
			// No streaming lists here: the informer falls back to list and watch.
			status(http.StatusForbidden, "Forbidden")
		case q.Get("watch") == "true" || q.Get("watch") == "1":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case r.URL.Path == "/api/v1/namespaces":
			fmt.Fprint(w, `{"kind":"NamespaceList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}`)
		case r.URL.Path == "/apis/storage.k8s.io/v1/storageclasses":
			fmt.Fprint(w, `{"kind":"StorageClassList","apiVersion":"storage.k8s.io/v1","metadata":{"resourceVersion":"1"},"items":[]}`)
		default:
			status(http.StatusNotFound, "NotFound")
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// kubeconfig writes a kubeconfig for server into dir.
func kubeconfig(t *testing.T, dir, server string) string {
	t.Helper()
	return writeFile(t, dir, "kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "`+server+`"}}]
users: [{name: fake, user: {}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
current-context: fake
`)
}

// readyz fetches /readyz from the webhook, trusting the CA in certDir.
func readyz(certDir, addr string) (int, string, error) {
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return 0, "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestWebhookReadyzWaitsForTheCachesAndReportsAFailedReload runs `bailiff webhook`
// against a fake API server: /readyz is 503 until the namespace and storage class
// caches hold their first lists, then 200 naming the policy set; after a
// configuration change that fails, the old set keeps serving, so it stays 200 and says
// which reload failed and why.
func TestWebhookReadyzWaitsForTheCachesAndReportsAFailedReload(t *testing.T) {
	dir := t.TempDir()
	api := newFakeAPIServer(t)
	cfgDir := filepath.Join(dir, "config")
	if err := os.Mkdir(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgFile := writeFile(t, cfgDir, "config.yaml", "podSecurity: {level: restricted}\n")
	addr, certDir := freeAddr(t), filepath.Join(dir, "tls")
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &bytes.Buffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"webhook", "--addr", addr, "--tls-self-signed", "--cert-dir", certDir,
			"--kubeconfig", kubeconfig(t, dir, api.URL), "--config", cfgFile, "--log-format", "text"},
			strings.NewReader(""), &bytes.Buffer{}, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("bailiff webhook exited %d:\n%s", code, stderr)
		}
	})

	// wait polls /readyz until check holds, and returns the last answer.
	wait := func(what string, check func(status int, body string) bool) (int, string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			status, body, err := readyz(certDir, addr)
			if err == nil && check(status, body) {
				return status, body
			}
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s: HTTP %d %q, %v", what, status, body, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	status, body := wait("the webhook to answer /readyz", func(int, string) bool { return true })
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "caches not synced") {
		t.Errorf("before the caches sync: HTTP %d %q, want 503 saying the caches are not synced", status, body)
	}

	api.open.Store(true)
	_, body = wait("the caches to sync", func(status int, _ string) bool { return status == http.StatusOK })
	if !strings.HasPrefix(body, "serving policy set ") || strings.Contains(body, "failed") {
		t.Errorf("once synced: %q, want the policy set serving", body)
	}
	serving := strings.TrimSpace(strings.TrimPrefix(body, "serving policy set "))

	writeFile(t, cfgDir, "config.yaml", "podSecurity: {level: strict}\n")
	status, body = wait("the failed reload", func(_ int, body string) bool { return strings.Contains(body, "failed") })
	if status != http.StatusOK {
		t.Errorf("after a failed reload: HTTP %d, want 200: the old set keeps serving", status)
	}
	for _, want := range []string{"serving policy set " + serving + ";", "the reload at ", " failed and was not applied: ", "podSecurity.level"} {
		if !strings.Contains(body, want) {
			t.Errorf("after a failed reload: %q lacks %q", body, want)
		}
	}
}
