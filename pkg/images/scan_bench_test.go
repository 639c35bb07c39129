package images

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// staticScanner answers every scan at once: the benchmarks below measure lookups, not Trivy.
type staticScanner struct{}

func (staticScanner) Scan(context.Context, ScanRequest) (Summary, error) {
	return Summarise([]Vulnerability{{ID: "CVE-1", Severity: "high", Package: "p", Installed: "1", Fixed: "2"}}, time.Now(), time.Now()), nil
}

func (staticScanner) DB() DBStatus {
	return DBStatus{Usable: true, UpdatedAt: time.Now().Add(-time.Hour)}
}

func benchRequests(n int) []ScanRequest {
	reqs := make([]ScanRequest, n)
	for i := range reqs {
		digest := fmt.Sprintf("sha256:%064x", i+1)
		reqs[i] = ScanRequest{Image: "registry.example.com/app@" + digest, Digest: digest}
	}
	return reqs
}

// BenchmarkScanLookupCached is the webhook's cost for a pod whose two images are
// already scanned: both answered from ScanClient's memory.
func BenchmarkScanLookupCached(b *testing.B) {
	svc, err := NewScanService(ScanServiceOptions{Scanner: staticScanner{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)
	srv := httptest.NewServer(ScanAPI(svc, "t"))
	defer srv.Close()
	client, err := NewScanClient(ScanClientOptions{URL: srv.URL, Token: "t", HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	reqs := benchRequests(2)
	for { // until the scans have landed and the client remembers them
		r, err := client.Lookup(ctx, reqs)
		if err != nil {
			b.Fatal(err)
		}
		if r[0].Scanned() && r[1].Scanned() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, _ := client.Lookup(ctx, reqs)
		if !r[1].Scanned() {
			b.Fatal("not cached")
		}
	}
}

// BenchmarkScanServiceLookup is the scanner's own answer from memory, without HTTP.
func BenchmarkScanServiceLookup(b *testing.B) {
	svc, err := NewScanService(ScanServiceOptions{Scanner: staticScanner{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)
	reqs := benchRequests(2)
	for !svc.Lookup(ctx, reqs)[1].Scanned() || !svc.Lookup(ctx, reqs)[0].Scanned() {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		svc.Lookup(ctx, reqs)
	}
}

// BenchmarkScanAPIRoundTrip is one uncached lookup over loopback HTTP: what a
// webhook pays the first time it sees a digest.
func BenchmarkScanAPIRoundTrip(b *testing.B) {
	svc, err := NewScanService(ScanServiceOptions{Scanner: staticScanner{}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(ScanAPI(svc, "t"))
	defer srv.Close()
	client, err := NewScanClient(ScanClientOptions{URL: srv.URL, Token: "t", HTTPClient: &http.Client{Transport: srv.Client().Transport}})
	if err != nil {
		b.Fatal(err)
	}
	reqs := benchRequests(2) // never scanned: the service is not running, so every call asks
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Lookup(context.Background(), reqs); err != nil {
			b.Fatal(err)
		}
	}
}
