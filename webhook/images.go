package webhook

import (
	"context"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"k8s.io/client-go/kubernetes"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/input"
)

// Keychains returns the registry credentials a request's images are pulled with; nil
// means anonymous.
type Keychains func(ctx context.Context, req input.Request) authn.Keychain

// PodPullSecrets builds keychains from the workload's imagePullSecrets and its service
// account's, read through client (only on a digest cache miss).
func PodPullSecrets(client kubernetes.Interface) Keychains {
	return func(ctx context.Context, req input.Request) authn.Keychain {
		spec := input.PodSpec(req.Object, req.Kind.Kind)
		creds := images.PullCredentials{Namespace: req.Namespace}
		creds.ServiceAccount, _ = spec["serviceAccountName"].(string)
		secrets, _ := spec["imagePullSecrets"].([]any)
		for _, s := range secrets {
			ref, _ := s.(map[string]any)
			if name, _ := ref["name"].(string); name != "" {
				creds.ImagePullSecrets = append(creds.ImagePullSecrets, name)
			}
		}
		return images.KubernetesKeychain(ctx, client, creds)
	}
}

// ResolvingImages describes a request's image references and, when resolve says so
// (images.pinDigests in the configuration in force), resolves each tag to the digest it
// points at, in parallel and within the request's budget, with the credentials
// keychains gives (nil: anonymous). A tag that cannot be resolved keeps its
// description with ResolveError set: the policies decide what that means.
func ResolvingImages(resolver *images.Resolver, resolve func() bool, keychains Keychains) ImageLookup {
	return func(ctx context.Context, req input.Request, refs []string) map[string]input.Image {
		out := UnscannedWithoutScanner(ctx, req, refs)
		if !resolve() {
			return out
		}
		var keychain authn.Keychain
		if keychains != nil {
			keychain = keychains(ctx, req)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for ref, img := range out {
			if img.Error != "" || img.Digest != "" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				digest, err := resolver.Resolve(ctx, ref, keychain)
				mu.Lock()
				defer mu.Unlock()
				img := out[ref]
				if err != nil {
					img.ResolveError = err.Error()
				} else {
					img.ResolvedDigest = digest
				}
				out[ref] = img
			}()
		}
		wg.Wait()
		return out
	}
}
