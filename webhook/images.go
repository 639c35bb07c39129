package webhook

import (
	"k8s.io/client-go/kubernetes"

	"github.com/bailiff/bailiff/pkg/images"
)

// Keychains returns the registry credentials a request's images are pulled with; nil
// means anonymous.
type Keychains = images.Keychains

// PodPullSecrets builds keychains from the workload's imagePullSecrets and its service
// account's, read through client (only on a digest cache miss).
func PodPullSecrets(client kubernetes.Interface) Keychains { return images.PodPullSecrets(client) }

// ImageFactsOptions configure ImageFacts.
type ImageFactsOptions = images.FactsOptions

// ImageFacts is the admission's image lookup: digests and scan results within a
// budget (see images.NewFacts).
func ImageFacts(opts ImageFactsOptions) ImageLookup { return ImageLookup(images.NewFacts(opts)) }

// ResolvingImages is ImageFacts without a scanner.
func ResolvingImages(resolver *images.Resolver, resolve func() bool, keychains Keychains) ImageLookup {
	return ImageFacts(ImageFactsOptions{Resolver: resolver, PinDigests: resolve, Keychains: keychains})
}
