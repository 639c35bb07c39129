// Package registrytest serves go-containerregistry's registry on loopback and pushes
// images into it, for tests that need a real registry and no network.
package registrytest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Serve starts a registry on loopback until the test ends and returns its host. wrap,
// if not nil, wraps the registry's handler (to count requests or demand credentials).
func Serve(tb testing.TB, wrap func(http.Handler) http.Handler) string {
	tb.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Push writes a random image to host/repoTag over plain HTTP and returns its digest.
func Push(tb testing.TB, host, repoTag string, opts ...remote.Option) string {
	tb.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return PushImage(tb, host, repoTag, img, opts...)
}

// PushImage writes img to host/repoTag over plain HTTP and returns its digest.
func PushImage(tb testing.TB, host, repoTag string, img v1.Image, opts ...remote.Option) string {
	tb.Helper()
	ref, err := name.ParseReference(host+"/"+repoTag, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		tb.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return digest.String()
}
