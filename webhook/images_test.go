package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/policy"
	"github.com/bailiff/bailiff/test/registrytest"
)

// pinningHandler is a handler whose configuration pins digests, resolving at host.
func pinningHandler(t *testing.T, host string, keychains Keychains) *Handler {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("images: {pinDigests: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := policy.Files{ConfigFile: cfg}.Options()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	resolver := images.NewResolver(images.ResolverOptions{InsecureRegistries: []string{host}})
	return NewHandler(Options{Engine: engine, Images: ResolvingImages(resolver, func() bool { return engine.Set().Config().Images.PinDigests }, keychains)})
}

func podWithImage(image string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},"spec":{"containers":[{"name":"app","image":"` + image + `"}]}}`
}

func TestTagsArePinnedToTheirDigestAtAdmission(t *testing.T) {
	host := registrytest.Serve(t, nil)
	ref := host + "/shop/api:1.0"
	digest := registrytest.Push(t, host, "shop/api:1.0")
	h := pinningHandler(t, host, nil)

	_, resp := post(t, h.Mutate(), review("CREATE", "shop", podWithImage(ref), ""))
	var patches []policy.Patch
	if err := json.Unmarshal(resp.Patch, &patches); err != nil {
		t.Fatalf("no patch: %+v", resp)
	}
	var pinned string
	for _, p := range patches {
		if p.Path == "/spec/containers/0/image" {
			pinned, _ = p.Value.(string)
		}
	}
	if pinned != ref+"@"+digest {
		t.Fatalf("image patched to %q, want %q (patches %+v)", pinned, ref+"@"+digest, patches)
	}

	_, again := post(t, h.Mutate(), review("CREATE", "shop", podWithImage(pinned), ""))
	for _, p := range decodePatches(t, again.Patch) {
		if strings.HasSuffix(p.Path, "/image") {
			t.Errorf("a pinned image must not be patched again: %+v", p)
		}
	}
}

func TestUnresolvableTagsAreLeftAsWritten(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // the registry is down
	h := pinningHandler(t, host, nil)
	_, resp := post(t, h.Mutate(), review("CREATE", "shop", podWithImage(host+"/shop/api:1.0"), ""))
	if !resp.Allowed {
		t.Fatalf("mutation must not refuse: %+v", resp.Result)
	}
	for _, p := range decodePatches(t, resp.Patch) {
		if strings.HasSuffix(p.Path, "/image") {
			t.Errorf("an unresolvable tag must be left as written: %+v", p)
		}
	}
}

func decodePatches(t *testing.T, raw []byte) []policy.Patch {
	t.Helper()
	if raw == nil {
		return nil
	}
	var out []policy.Patch
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPrivateRegistriesUseTheWorkloadsPullSecrets serves a registry that demands basic
// auth; only a pod naming the pull secret that holds the credentials gets its tag pinned,
// and a pod without it failing first does not spoil the lookup for the one with it.
func TestPrivateRegistriesUseTheWorkloadsPullSecrets(t *testing.T) {
	host := registrytest.Serve(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if user, pass, ok := r.BasicAuth(); !ok || user != "ci" || pass != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	ref := host + "/private/api:1"
	digest := registrytest.Push(t, host, "private/api:1", remote.WithAuth(&authn.Basic{Username: "ci", Password: "s3cret"}))

	dockerConfig := fmt.Sprintf(`{"auths":{%q:{"username":"ci","password":"s3cret"}}}`, host)
	client := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "shop"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(dockerConfig)}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "shop"}},
	)
	h := pinningHandler(t, host, PodPullSecrets(client))

	image := func(resp []byte) string {
		for _, p := range decodePatches(t, resp) {
			if p.Path == "/spec/containers/0/image" {
				s, _ := p.Value.(string)
				return s
			}
		}
		return ""
	}
	_, without := post(t, h.Mutate(), review("CREATE", "shop", podWithImage(ref), ""))
	if got := image(without.Patch); got != "" {
		t.Errorf("without credentials the tag cannot be resolved, yet it was pinned to %q", got)
	}
	withSecret := strings.Replace(podWithImage(ref), `"containers":`, `"imagePullSecrets":[{"name":"regcred"}],"containers":`, 1)
	_, with := post(t, h.Mutate(), review("CREATE", "shop", withSecret, ""))
	if got := image(with.Patch); got != ref+"@"+digest {
		t.Errorf("with the pull secret: image %q, want %q", got, ref+"@"+digest)
	}
}
