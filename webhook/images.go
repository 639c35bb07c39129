package webhook

import (
	"context"
	"sync"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/input"
)

// ResolvingImages describes a request's image references and, when resolve says so
// (images.pinDigests in the configuration in force), resolves each tag to the digest it
// points at, in parallel and within the request's budget. A tag that cannot be resolved
// keeps its description with ResolveError set: the policies decide what that means.
func ResolvingImages(resolver *images.Resolver, resolve func() bool) ImageLookup {
	return func(ctx context.Context, refs []string) map[string]input.Image {
		out := UnscannedWithoutScanner(ctx, refs)
		if !resolve() {
			return out
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
				digest, err := resolver.Resolve(ctx, ref, nil)
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
