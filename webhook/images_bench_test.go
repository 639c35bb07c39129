package webhook

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/input"
	"github.com/bailiff/bailiff/test/registrytest"
)

// cleanScanner reports every image clean at once: the benchmark measures the
// webhook's side, not Trivy.
type cleanScanner struct{}

func (cleanScanner) Scan(context.Context, images.ScanRequest) (images.Summary, error) {
	return images.Summarise(nil, time.Now().Add(-time.Hour), time.Now()), nil
}

func (cleanScanner) DB() images.DBStatus {
	return images.DBStatus{Usable: true, UpdatedAt: time.Now().Add(-time.Hour)}
}

// BenchmarkImageFactsWarm is what the scanner adds to the admission of a pod whose
// two images (tags) are already resolved and scanned: cached digest resolution and
// cached scan lookups, filling input.context.images.
func BenchmarkImageFactsWarm(b *testing.B) {
	host := registrytest.Serve(b, nil)
	refs := []string{host + "/shop/api:1", host + "/shop/sidecar:2"}
	for _, ref := range refs {
		registrytest.Push(b, host, ref[len(host)+1:])
	}
	svc, err := images.NewScanService(images.ScanServiceOptions{Scanner: cleanScanner{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)
	srv := httptest.NewServer(images.ScanAPI(svc, "t"))
	defer srv.Close()
	scans, err := images.NewScanClient(images.ScanClientOptions{URL: srv.URL, Token: "t", HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	lookup := ImageFacts(ImageFactsOptions{
		Resolver: images.NewResolver(images.ResolverOptions{InsecureRegistries: []string{host}}),
		Scans:    scans,
	})
	req := input.Request{Namespace: "shop", Kind: input.GroupVersionKind{Version: "v1", Kind: "Pod"}}
	for { // until both scans have landed and are remembered
		out := lookup(ctx, req, refs)
		if out[refs[0]].Scanned && out[refs[1]].Scanned {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out := lookup(ctx, req, refs)
		if !out[refs[1]].Scanned {
			b.Fatal("not scanned")
		}
	}
}
