package images

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/singleflight"
)

// ResolverOptions configure a Resolver.
type ResolverOptions struct {
	TTL                time.Duration     // how long a resolved digest is trusted; default 5m
	ErrorTTL           time.Duration     // how long a failure is remembered, so a down registry is not hammered; default 30s
	MaxEntries         int               // cache bound; default 10,000
	Timeout            time.Duration     // per registry request; default 5s
	Transport          http.RoundTripper // default remote.DefaultTransport
	Now                func() time.Time  // default time.Now
	InsecureRegistries []string          // registry hosts reached over plain HTTP (local mirrors, tests)
}

// Resolver turns image tags into digests with go-containerregistry, caching answers
// with a TTL and sharing one registry request among concurrent lookups of a reference.
type Resolver struct {
	opts    ResolverOptions
	group   singleflight.Group
	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	digest  string
	err     error
	expires time.Time
}

// NewResolver returns a resolver with defaults filled in.
func NewResolver(opts ResolverOptions) *Resolver {
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.ErrorTTL <= 0 {
		opts.ErrorTTL = 30 * time.Second
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 10000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Transport == nil {
		opts.Transport = remote.DefaultTransport
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Resolver{opts: opts, entries: map[string]cacheEntry{}}
}

// ErrUnresolvable wraps every resolution failure, so callers can apply their failure mode.
var ErrUnresolvable = errors.New("image digest could not be resolved")

// Resolve returns the digest ("sha256:...") an image reference points at now. A reference
// already pinned by digest is answered without a request. keychain supplies registry
// credentials (nil: anonymous). Digests are cached by reference alone (credentials decide
// whether a pull is allowed, not what a tag points at); failures are cached per
// reference and credentials, so one workload lacking access does not fail another's.
func (r *Resolver) Resolve(ctx context.Context, ref string, keychain authn.Keychain) (string, error) {
	parsed := ParseReference(ref)
	if parsed.Error != "" {
		return "", fmt.Errorf("%w: %s: %s", ErrUnresolvable, ref, parsed.Error)
	}
	if parsed.Digest != "" {
		return parsed.Digest, nil
	}
	failureKey := ref + "\x00"
	if s, ok := keychain.(scopedKeychain); ok {
		failureKey += s.Scope()
	}
	lookup := func() (cacheEntry, bool) {
		if e, ok := r.cached(ref); ok {
			return e, true
		}
		return r.cached(failureKey)
	}
	if e, ok := lookup(); ok {
		return e.digest, e.err
	}
	v, err, _ := r.group.Do(failureKey, func() (any, error) {
		if e, ok := lookup(); ok { // another caller may have just filled it
			return e.digest, e.err
		}
		digest, err := r.fetch(ctx, ref, keychain)
		if err != nil {
			r.store(failureKey, cacheEntry{err: err, expires: r.opts.Now().Add(r.opts.ErrorTTL)})
			return "", err
		}
		r.store(ref, cacheEntry{digest: digest, expires: r.opts.Now().Add(r.opts.TTL)})
		return digest, nil
	})
	digest, _ := v.(string)
	return digest, err
}

func (r *Resolver) cached(ref string) (cacheEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[ref]
	if !ok || !r.opts.Now().Before(e.expires) {
		return cacheEntry{}, false
	}
	return e, true
}

func (r *Resolver) store(ref string, e cacheEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= r.opts.MaxEntries {
		// Drop expired entries first; if none, the one that expires soonest.
		now := r.opts.Now()
		var soonest string
		for k, v := range r.entries {
			if !now.Before(v.expires) {
				delete(r.entries, k)
			} else if soonest == "" || v.expires.Before(r.entries[soonest].expires) {
				soonest = k
			}
		}
		if len(r.entries) >= r.opts.MaxEntries && soonest != "" {
			delete(r.entries, soonest)
		}
	}
	r.entries[ref] = e
}

// fetch asks the registry for the manifest digest: HEAD first, GET when the registry
// does not answer HEAD with a digest.
func (r *Resolver) fetch(ctx context.Context, ref string, keychain authn.Keychain) (string, error) {
	var nameOpts []name.Option
	if slices.Contains(r.opts.InsecureRegistries, ParseReference(ref).Registry) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	parsed, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrUnresolvable, ref, err)
	}
	if keychain == nil {
		keychain = authn.NewMultiKeychain() // anonymous
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain), remote.WithTransport(r.opts.Transport)}
	registry := parsed.Context().RegistryStr()
	desc, headErr := remote.Head(parsed, opts...)
	if headErr == nil && desc.Digest.Hex != "" && isManifest(desc.MediaType) {
		return desc.Digest.String(), nil
	}
	got, err := remote.Get(parsed, opts...)
	if err != nil {
		return "", fmt.Errorf("%w: %s from %s: %v", ErrUnresolvable, ref, registry, err)
	}
	// A proxy or captive portal can answer 200 with anything; go-containerregistry
	// would hash it. Only an image manifest or index has a digest worth pinning.
	if !isManifest(got.MediaType) {
		return "", fmt.Errorf("%w: %s from %s: the registry answered with %q, not an image manifest", ErrUnresolvable, ref, registry, got.MediaType)
	}
	return got.Digest.String(), nil
}

func isManifest(mt types.MediaType) bool { return mt.IsImage() || mt.IsIndex() }
