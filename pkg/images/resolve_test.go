package images

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bailiff/bailiff/test/registrytest"
)

// testRegistry is a loopback registry counting manifest requests.
type testRegistry struct {
	addr      string
	manifests atomic.Int64
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	tr.addr = registrytest.Serve(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				tr.manifests.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	return tr
}

func (tr *testRegistry) host() string { return tr.addr }

// push writes a random image under repo:tag, returns its digest and resets the count.
func (tr *testRegistry) push(t *testing.T, repoTag string) string {
	t.Helper()
	digest := registrytest.Push(t, tr.addr, repoTag)
	tr.manifests.Store(0)
	return digest
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestResolveCachesDigestsForTheirTTL(t *testing.T) {
	reg := newTestRegistry(t)
	want := reg.push(t, "shop/api:1.0")
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	r := NewResolver(ResolverOptions{TTL: time.Minute, InsecureRegistries: []string{reg.host()}, Now: clk.Now})
	ref := reg.host() + "/shop/api:1.0"

	got, err := r.Resolve(context.Background(), ref, nil)
	if err != nil || got != want {
		t.Fatalf("Resolve = %q, %v; want %q", got, err, want)
	}
	requests := reg.manifests.Load()
	if requests == 0 {
		t.Fatal("the first resolution must ask the registry")
	}
	if again, _ := r.Resolve(context.Background(), ref, nil); again != want || reg.manifests.Load() != requests {
		t.Errorf("a cached digest must be served without a request (%d requests now)", reg.manifests.Load())
	}

	newer := reg.push(t, "shop/api:1.0") // the tag moves
	if got, _ := r.Resolve(context.Background(), ref, nil); got != want {
		t.Errorf("within the TTL the cached digest stands, got %q", got)
	}
	clk.advance(2 * time.Minute)
	if got, _ := r.Resolve(context.Background(), ref, nil); got != newer {
		t.Errorf("after the TTL the moved tag must be seen: got %q, want %q", got, newer)
	}
}

func TestResolveDeduplicatesConcurrentLookups(t *testing.T) {
	reg := newTestRegistry(t)
	want := reg.push(t, "shop/web:2")
	r := NewResolver(ResolverOptions{InsecureRegistries: []string{reg.host()}})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := r.Resolve(context.Background(), reg.host()+"/shop/web:2", nil); err != nil || got != want {
				t.Errorf("Resolve = %q, %v", got, err)
			}
		}()
	}
	wg.Wait()
	if n := reg.manifests.Load(); n > 2 { // a HEAD, and at most a GET
		t.Errorf("50 concurrent lookups of one tag made %d manifest requests", n)
	}
}

func TestResolveFailuresAreClearAndBrieflyRemembered(t *testing.T) {
	reg := newTestRegistry(t)
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	r := NewResolver(ResolverOptions{InsecureRegistries: []string{reg.host()}, ErrorTTL: 30 * time.Second, Timeout: 2 * time.Second, Now: clk.Now})

	_, err := r.Resolve(context.Background(), reg.host()+"/shop/missing:1", nil)
	if !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), "shop/missing:1") {
		t.Fatalf("a missing tag: %v", err)
	}
	requests := reg.manifests.Load()
	if _, err := r.Resolve(context.Background(), reg.host()+"/shop/missing:1", nil); err == nil || reg.manifests.Load() != requests {
		t.Error("a failure must be remembered for ErrorTTL instead of asking again")
	}
	want := reg.push(t, "shop/missing:1")
	clk.advance(time.Minute)
	if got, err := r.Resolve(context.Background(), reg.host()+"/shop/missing:1", nil); err != nil || got != want {
		t.Errorf("after ErrorTTL the registry is asked again: %q, %v", got, err)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(down.URL, "http://")
	down.Close()
	_, err = r.Resolve(context.Background(), host+"/app:1", nil)
	if !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), host) {
		t.Errorf("an unreachable registry must name itself in the error: %v", err)
	}
}

func TestResolvePinnedAndInvalidReferencesNeedNoRegistry(t *testing.T) {
	r := NewResolver(ResolverOptions{})
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if got, err := r.Resolve(context.Background(), "unreachable.invalid/app:1@"+digest, nil); err != nil || got != digest {
		t.Errorf("a pinned reference resolves to its own digest: %q, %v", got, err)
	}
	if _, err := r.Resolve(context.Background(), "NOT A REFERENCE", nil); !errors.Is(err, ErrUnresolvable) {
		t.Errorf("an invalid reference: %v", err)
	}
}

func TestResolveBoundsARegistryAnsweringGarbage(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"HTML instead of a manifest", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>welcome to the captive portal</html>"))
		}},
		{"a server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }},
		{"a stall longer than the timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			r := NewResolver(ResolverOptions{InsecureRegistries: []string{host}, Timeout: 500 * time.Millisecond})
			_, err := r.Resolve(context.Background(), host+"/app:1", nil)
			if !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), host) {
				t.Errorf("want a bounded ErrUnresolvable naming the registry, got %v", err)
			}
		})
	}
}
