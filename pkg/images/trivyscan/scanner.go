package trivyscan

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy/pkg/cache"
	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/applier"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	artimage "github.com/aquasecurity/trivy/pkg/fanal/artifact/image"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/scan"
	"github.com/aquasecurity/trivy/pkg/scan/langpkg"
	"github.com/aquasecurity/trivy/pkg/scan/local"
	"github.com/aquasecurity/trivy/pkg/scan/ospkg"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/aquasecurity/trivy/pkg/vulnerability"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/client-go/kubernetes"

	"github.com/bailiff/bailiff/pkg/images"
)

// Options configure a Scanner.
type Options struct {
	DB *DB
	// Kubernetes reads the pull secrets a request names; nil pulls anonymously
	// (or with the scanner's own docker config).
	Kubernetes kubernetes.Interface
	// InsecureRegistries are reached over plain HTTP (local mirrors, tests).
	InsecureRegistries []string
	// MaxImageBytes refuses images whose layers add up to more; default 4 GiB.
	MaxImageBytes int64
	// Parallel is how many layers are analysed at once; default 2.
	Parallel int
	Now      func() time.Time
}

// Scanner scans images with Trivy's vulnerability scanner, OS and language
// packages only: no secret, misconfiguration or licence scanning.
type Scanner struct {
	opts Options
}

var _ images.Scanner = (*Scanner)(nil)

// New returns a scanner over db.
func New(opts Options) (*Scanner, error) {
	if opts.DB == nil {
		return nil, fmt.Errorf("trivy scanner: a vulnerability database is required")
	}
	if opts.MaxImageBytes <= 0 {
		opts.MaxImageBytes = 4 << 30
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 2
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Scanner{opts: opts}, nil
}

// DB implements images.Scanner.
func (s *Scanner) DB() images.DBStatus { return s.opts.DB.Status() }

// disabledAnalyzers leaves what finds installed packages: secrets,
// misconfiguration, licences and the like are other tools' business. Java
// archives need Trivy's separate Java database, which the scanner does not
// download, so they are skipped too.
var disabledAnalyzers = slices.Concat(
	[]analyzer.Type{
		analyzer.TypeSecret,
		analyzer.TypeLicenseFile,
		analyzer.TypeJar,
		analyzer.TypeExecutable,
		analyzer.TypeApkCommand,
		analyzer.TypeHistoryDockerfile,
		analyzer.TypeRpmArchive,
	},
	analyzer.TypeConfigFiles,
)

// Scan implements images.Scanner: it pulls the image by digest and lists the
// known vulnerabilities of its OS and language packages.
func (s *Scanner) Scan(ctx context.Context, req images.ScanRequest) (images.Summary, error) {
	if err := images.CheckScanRequest(req); err != nil {
		return images.Summary{}, err
	}
	img, err := s.pull(ctx, req)
	if err != nil {
		return images.Summary{}, err
	}
	var summary images.Summary
	err = s.opts.DB.Read(func(status images.DBStatus) error {
		if !status.Usable {
			return fmt.Errorf("no usable vulnerability database: %s", status.Reason)
		}
		vulns, err := s.analyse(ctx, img)
		if err != nil {
			return err
		}
		summary = images.Summarise(vulns, status.UpdatedAt, s.opts.Now())
		return nil
	})
	return summary, err
}

// pull fetches the image's manifest and config, checking its size before any
// layer is read; layers stream during analysis.
func (s *Scanner) pull(ctx context.Context, req images.ScanRequest) (*image, error) {
	var nameOpts []name.Option
	ref, err := name.ParseReference(req.Image)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", req.Image, err)
	}
	if slices.Contains(s.opts.InsecureRegistries, ref.Context().RegistryStr()) {
		nameOpts = append(nameOpts, name.Insecure)
		if ref, err = name.ParseReference(req.Image, nameOpts...); err != nil {
			return nil, fmt.Errorf("parse %q: %w", req.Image, err)
		}
	}
	var keychain authn.Keychain = authn.DefaultKeychain
	if s.opts.Kubernetes != nil && req.Pull.Namespace != "" {
		keychain = authn.NewMultiKeychain(images.KubernetesKeychain(ctx, s.opts.Kubernetes, req.Pull), authn.DefaultKeychain)
	}
	img, err := remote.Image(ref,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
	)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", req.Image, err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest of %s: %w", req.Image, err)
	}
	var size int64
	for _, l := range manifest.Layers {
		size += l.Size
	}
	if size > s.opts.MaxImageBytes {
		return nil, fmt.Errorf("image %s has %d bytes of layers, more than the %d this scanner accepts", req.Image, size, s.opts.MaxImageBytes)
	}
	return &image{Image: img, name: req.Image, digest: req.Digest}, nil
}

func (s *Scanner) analyse(ctx context.Context, img *image) ([]images.Vulnerability, error) {
	// A cache per scan: memory stays bounded, and the scan-result cache by digest
	// (images.ScanService) already avoids rescanning an image.
	c := cache.NewMemoryCache()
	art, err := artimage.NewArtifact(img, c, artifact.Option{
		DisabledAnalyzers: disabledAnalyzers,
		Parallel:          s.opts.Parallel,
		NoProgress:        true,
		Offline:           true,
	})
	if err != nil {
		return nil, fmt.Errorf("prepare scan of %s: %w", img.name, err)
	}
	service := scan.NewService(
		local.NewService(applier.NewApplier(c), ospkg.NewScanner(), langpkg.NewScanner(), vulnerability.NewClient(trivydb.Config{})),
		art,
	)
	report, err := service.ScanArtifact(ctx, types.ScanOptions{
		PkgTypes:            []string{types.PkgTypeOS, types.PkgTypeLibrary},
		Scanners:            types.Scanners{types.VulnerabilityScanner},
		PkgRelationships:    ftypes.Relationships,
		VulnSeveritySources: []dbtypes.SourceID{"auto"},
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", img.name, err)
	}
	var vulns []images.Vulnerability
	for _, r := range report.Results {
		for _, v := range r.Vulnerabilities {
			vulns = append(vulns, images.Vulnerability{
				ID:        v.VulnerabilityID,
				Severity:  v.Severity,
				Package:   v.PkgName,
				Installed: v.InstalledVersion,
				Fixed:     v.FixedVersion,
				Title:     v.Title,
			})
		}
	}
	return vulns, nil
}

// image adapts a go-containerregistry image to the interface Trivy scans.
type image struct {
	v1.Image
	name   string
	digest string
}

func (i *image) Name() string { return i.name }

func (i *image) ID() (string, error) {
	h, err := i.ConfigName()
	if err != nil {
		return "", fmt.Errorf("config digest of %s: %w", i.name, err)
	}
	return h.String(), nil
}

func (i *image) RepoTags() []string { return nil }

func (i *image) RepoDigests() []string { return []string{i.name} }
