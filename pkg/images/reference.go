// Package images knows about container image references: parsing and normalising them,
// and (later) resolving digests and holding scan results. Policies see what it learns in
// input.context.images.
package images

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bailiff/bailiff/pkg/input"
)

// DockerHub is how Bailiff names Docker Hub in policy input and configuration. Docker's
// own tooling also uses "index.docker.io" and "registry-1.docker.io" for it.
const DockerHub = "docker.io"

// Reference is one image reference, parsed and normalised, as policies see it.
type Reference struct {
	Reference  string `json:"reference"`       // as written in the object
	Registry   string `json:"registry"`        // "docker.io", "ghcr.io", "localhost:5000"
	Repository string `json:"repository"`      // "library/nginx"
	Tag        string `json:"tag"`             // "" when none was written
	Digest     string `json:"digest"`          // "" when none was written
	Error      string `json:"error,omitempty"` // why the reference does not parse
}

// ParseReference parses an image reference the way the container runtime does: a
// missing registry means Docker Hub, a missing namespace on Docker Hub means library/.
// A reference that does not parse comes back with Error set rather than failing, so a
// policy can name the container that carries it.
func ParseReference(ref string) Reference {
	out := Reference{Reference: ref}
	if strings.TrimSpace(ref) == "" {
		out.Error = "the image reference is empty"
		return out
	}
	base := ref
	if at := strings.IndexByte(ref, '@'); at >= 0 {
		d, err := name.NewDigest(ref, name.WithDefaultTag(""))
		if err != nil {
			out.Error = err.Error()
			return out
		}
		out.Digest = d.DigestStr()
		base = ref[:at]
	}
	t, err := name.NewTag(base, name.WithDefaultTag(""))
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Tag = t.TagStr()
	out.Repository = t.RepositoryStr()
	out.Registry = t.RegistryStr()
	if out.Registry == name.DefaultRegistry {
		out.Registry = DockerHub
	}
	return out
}

// Describe is what policies know of an image reference when no scan result is at hand:
// its parsed parts, and why it is not scanned.
func Describe(ref, unscannedReason string) input.Image {
	r := ParseReference(ref)
	return input.Image{
		Reference:       r.Reference,
		Registry:        r.Registry,
		Repository:      r.Repository,
		Tag:             r.Tag,
		Digest:          r.Digest,
		Error:           r.Error,
		UnscannedReason: unscannedReason,
	}
}
