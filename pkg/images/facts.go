package images

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"k8s.io/client-go/kubernetes"

	"github.com/bailiff/bailiff/pkg/input"
)

// Keychains returns the registry credentials a request's images are pulled with; nil
// means anonymous.
type Keychains func(ctx context.Context, req input.Request) authn.Keychain

// WorkloadPullCredentials names the credentials the kubelet would pull the workload's images
// with: its imagePullSecrets and its service account's.
func WorkloadPullCredentials(req input.Request) PullCredentials {
	spec := input.PodSpec(req.Object, req.Kind.Kind)
	creds := PullCredentials{Namespace: req.Namespace, ServiceAccount: input.LookupString(spec, "serviceAccountName")}
	secrets := input.LookupArray(spec, "imagePullSecrets")
	for i := 0; secrets != nil && i < secrets.Len(); i++ {
		if name := input.LookupString(secrets.Elem(i).Value, "name"); name != "" {
			creds.ImagePullSecrets = append(creds.ImagePullSecrets, name)
		}
	}
	return creds
}

// PodPullSecrets builds keychains from the workload's imagePullSecrets and its service
// account's, read through client (only on a digest cache miss).
func PodPullSecrets(client kubernetes.Interface) Keychains {
	return func(ctx context.Context, req input.Request) authn.Keychain {
		return KubernetesKeychain(ctx, client, WorkloadPullCredentials(req))
	}
}

// FactsOptions configure ImageFacts.
type FactsOptions struct {
	Resolver *Resolver
	// PinDigests says whether pinDigests is on in the configuration in force.
	PinDigests func() bool
	Keychains  Keychains // nil: anonymous
	// Scans asks bailiff-scanner for scan results; nil: no scanner, images are
	// reported as not scanned.
	Scans *ScanClient
	// Budget bounds resolution and scan lookups together; default 1s. Past it, an
	// image is reported as not scanned and the policies (unscanned) decide.
	Budget time.Duration
}

// Facts fills input.context.images for the image references of a request.
type Facts func(ctx context.Context, req input.Request, refs []string) map[string]input.Image

// NoScannerReason is the unscanned_reason of images when no scanner is configured.
const NoScannerReason = "no scanner is configured for this cluster"

// DescribeAll describes each reference, none of them scanned, for the reason given.
func DescribeAll(refs []string, reason string) map[string]input.Image {
	out := make(map[string]input.Image, len(refs))
	for _, ref := range refs {
		out[ref] = Describe(ref, reason)
	}
	return out
}

// NewFacts describes a request's image references and fills in what Go can learn
// of them within the budget: each tag's digest (when pinning is on or a scanner needs
// it), and each digest's scan result from the scanner, which queues scans it has no
// result for. A tag that cannot be resolved keeps ResolveError; an image without a
// result keeps the reason. The policies decide what either means.
func NewFacts(opts FactsOptions) Facts {
	if opts.Budget <= 0 {
		opts.Budget = time.Second
	}
	return func(ctx context.Context, req input.Request, refs []string) map[string]input.Image {
		out := DescribeAll(refs, NoScannerReason)
		pin := opts.PinDigests != nil && opts.PinDigests()
		if !pin && opts.Scans == nil {
			return out
		}
		ctx, cancel := context.WithTimeout(ctx, opts.Budget)
		defer cancel()
		resolveAll(ctx, opts.Resolver, opts.keychain(ctx, req), out)
		if opts.Scans != nil {
			lookupScans(ctx, opts.Scans, WorkloadPullCredentials(req), out)
		}
		return out
	}
}

func (o FactsOptions) keychain(ctx context.Context, req input.Request) authn.Keychain {
	if o.Keychains == nil {
		return nil
	}
	return o.Keychains(ctx, req)
}

// resolveAll resolves every tag in out to its digest, in parallel.
func resolveAll(ctx context.Context, resolver *Resolver, keychain authn.Keychain, out map[string]input.Image) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for ref, img := range out {
		if img.Error != "" || img.Digest != "" {
			continue
		}
		wg.Go(func() {
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
		})
	}
	wg.Wait()
}

// lookupScans asks the scanner, in one call, for the result of every image whose
// digest is known, and records the answers in out.
func lookupScans(ctx context.Context, scans *ScanClient, creds PullCredentials, out map[string]input.Image) {
	var reqs []ScanRequest
	var refs []string
	for ref, img := range out {
		if img.Error != "" {
			continue
		}
		digest := cmp.Or(img.Digest, img.ResolvedDigest)
		if digest == "" {
			img.UnscannedReason = "its digest could not be resolved, so no scan result can be looked up: " + img.ResolveError
			out[ref] = img
			continue
		}
		reqs = append(reqs, ScanRequest{
			Image:  img.Registry + "/" + img.Repository + "@" + digest,
			Digest: digest,
			Pull:   creds,
		})
		refs = append(refs, ref)
	}
	if len(reqs) == 0 {
		return
	}
	results, _ := scans.Lookup(ctx, reqs) // failures come back as ScanUnavailable results with the reason
	for i, ref := range refs {
		img := out[ref]
		results[i].Apply(&img)
		out[ref] = img
	}
}
