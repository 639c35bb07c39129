package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/serve"

	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/test/poll"
)

// watchedEngine builds an engine from configFile and a Reloader for it.
func watchedEngine(t *testing.T, configFile string, metrics *Metrics) (*policy.Engine, *Reloader) {
	t.Helper()
	files := policy.Files{ConfigFile: configFile}
	opts, err := files.Options()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return engine, NewReloader(engine, files, metrics, slog.New(slog.DiscardHandler))
}

func TestReloaderAppliesGoodChangesAndKeepsServingOnBadOnes(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	write := func(s string) {
		t.Helper()
		if err := serve.WriteFileAtomic(cfgFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("podSecurity: {level: baseline}\n")
	metrics := NewMetrics()
	engine, r := watchedEngine(t, cfgFile, metrics)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Watch(ctx) }()
	time.Sleep(100 * time.Millisecond) // let the watch start

	first := engine.Set().Version()
	write("podSecurity: {level: restricted}\n")
	poll.Until(t, "the new configuration", func() bool { return engine.Set().Config().PodSecurity.Level == "restricted" })
	if engine.Set().Version() == first {
		t.Error("a new configuration is a new version")
	}

	good := engine.Set().Version()
	write("podSecurity: {level: strict}\n")
	poll.Until(t, "the failed reload", func() bool { return strings.Contains(r.Status(), "failed") })
	if engine.Set().Version() != good {
		t.Error("a failed reload must keep the running set")
	}
	if !strings.Contains(r.Status(), "podSecurity.level") {
		t.Errorf("status must say what is wrong: %s", r.Status())
	}
	if counterValue(t, metrics, "bailiff_policy_reloads_total") < 2 {
		t.Error("reloads must be counted")
	}
}

func TestServerRotatesCertificatesWithoutDroppingRequests(t *testing.T) {
	dir := t.TempDir()
	if _, err := serve.SelfSigned(dir, []string{"localhost", "127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	h := testHandler(t, nil)
	srv, err := Listen(ServerOptions{Addr: "127.0.0.1:0", CertDir: dir, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	url := "https://" + srv.Addr().String()

	// Trust both the first CA and the one rotation will create: the client checks
	// every certificate it is served.
	pool := x509.NewCertPool()
	trust := func() {
		ca, err := os.ReadFile(filepath.Join(dir, serve.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(ca)
	}
	trust()
	var served sync.Map // serial numbers seen
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true, // a new handshake per request, so rotation is visible
		TLSClientConfig: &tls.Config{RootCAs: pool, VerifyConnection: func(cs tls.ConnectionState) error {
			served.Store(cs.PeerCertificates[0].SerialNumber.String(), true)
			return nil
		}},
	}}
	poll.Until(t, "the server", func() bool {
		resp, err := client.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	var failures, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				total.Add(1)
				resp, err := client.Post(url+"/validate", "application/json", strings.NewReader(review("CREATE", "shop", compliantPod, "")))
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	// Rotate: a new CA and certificate, written as cert-manager would.
	rotated := t.TempDir()
	if _, err := serve.SelfSigned(rotated, []string{"localhost", "127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(rotated, serve.CAFile))
	pool.AppendCertsFromPEM(ca)
	for _, f := range []string{serve.KeyFile, serve.CertFile} {
		b, _ := os.ReadFile(filepath.Join(rotated, f))
		if err := serve.WriteFileAtomic(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, "the rotated certificate", func() bool {
		n := 0
		served.Range(func(_, _ any) bool { n++; return true })
		return n >= 2
	})
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed across the rotation", failures.Load(), total.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("server: %v", err)
	}
}

// TestReloaderFollowsAConfigMapVolume reproduces how the kubelet updates a mounted
// ConfigMap: the files live in a timestamped directory, config.yaml is a symlink through
// ..data, and an update swaps ..data atomically to a new directory.
func TestReloaderFollowsAConfigMapVolume(t *testing.T) {
	dir := t.TempDir()
	version := func(name, content string) {
		t.Helper()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.Mkdir(filepath.Join(dir, name), 0o755))
		must(os.WriteFile(filepath.Join(dir, name, "config.yaml"), []byte(content), 0o644))
		tmp := filepath.Join(dir, "..data_tmp")
		must(os.Symlink(name, tmp))
		must(os.Rename(tmp, filepath.Join(dir, "..data")))
	}
	version("..2026_11_24_01_00_00.000000001", "podSecurity: {level: baseline}\n")
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), filepath.Join(dir, "config.yaml")); err != nil {
		t.Fatal(err)
	}
	engine, r := watchedEngine(t, filepath.Join(dir, "config.yaml"), NewMetrics())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Watch(ctx) }()
	time.Sleep(100 * time.Millisecond) // let the watch start

	version("..2026_11_24_01_05_00.000000002", "podSecurity: {level: restricted}\n")
	poll.Until(t, "the ConfigMap update", func() bool { return engine.Set().Config().PodSecurity.Level == "restricted" })
}

// folderPolicy is a policy of package pkg whose id is id, for
// TestReloaderFollowsPolicyFilesInEveryFolder.
func folderPolicy(pkg, id string) string {
	return `# METADATA
# title: Test policy
# scope: package
# custom:
#   id: ` + id + `
#   severity: low
#   enforcement: deny
#   kinds: [ConfigMap]
#   controls: []
package bailiff.test.` + pkg + `

violation contains {"msg": "always"} if true
`
}

func TestReloaderFollowsPolicyFilesInEveryFolder(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, src string) {
		t.Helper()
		file := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := serve.WriteFileAtomic(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("team/a/p.rego", folderPolicy("a", "TST-101"))
	files := policy.Files{PolicyDirs: []string{dir}}
	opts, err := files.Options()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReloader(engine, files, NewMetrics(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Watch(ctx) }()
	time.Sleep(100 * time.Millisecond) // let the watch start

	has := func(id string) func() bool {
		return func() bool {
			for _, p := range engine.Set().Policies() {
				if p.ID == id {
					return true
				}
			}
			return false
		}
	}
	if !has("TST-101")() {
		t.Fatal("the policy in a nested folder must be loaded")
	}
	write("team/a/p.rego", folderPolicy("a", "TST-102")) // an edit two folders down
	poll.Until(t, "the edited policy in a nested folder", has("TST-102"))

	write("team/b/c/p.rego", folderPolicy("c", "TST-103")) // folders made after the watch started
	poll.Until(t, "the policy in a new folder", has("TST-103"))
	time.Sleep(300 * time.Millisecond) // the folder's own watch is in place once seen
	write("team/b/c/p.rego", folderPolicy("c", "TST-104"))
	poll.Until(t, "the edited policy in the new folder", has("TST-104"))
}
