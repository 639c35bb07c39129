// Package trivytest builds what scanner tests need without a network: a Trivy
// vulnerability database written with trivy-db's own writer API, and small
// Alpine-like images with an apk database listing chosen packages.
package trivytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/bucket"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	bolt "go.etcd.io/bbolt"
)

// AlpineRelease is the Alpine release the fixtures use.
const AlpineRelease = "3.20"

// Advisory says that Package before Fixed has vulnerability ID in AlpineRelease.
type Advisory struct {
	ID       string
	Package  string
	Fixed    string // "" when no fix exists
	Severity string // CRITICAL, HIGH, MEDIUM, LOW
	Title    string
}

// WriteDB writes trivy.db and metadata.json into dir, as Trivy's published
// database lays them out, with the given advisories and update time. No
// advisories gives an empty database.
func WriteDB(tb testing.TB, dir string, updatedAt time.Time, advisories ...Advisory) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	db, err := bolt.Open(trivydb.Path(dir), 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatalf("create vulnerability database: %v", err)
	}
	if len(advisories) > 0 {
		// trivy-db's writer methods only use the transaction given, never its global handle.
		var w trivydb.Config
		platform := bucket.NewAlpine(AlpineRelease).Name()
		err = db.Update(func(tx *bolt.Tx) error {
			if err := w.PutDataSource(tx, platform, dbtypes.DataSource{
				ID: vulnerability.Alpine, Name: "Alpine Secdb", URL: "https://secdb.alpinelinux.org/",
			}); err != nil {
				return err
			}
			for _, a := range advisories {
				if err := w.PutAdvisory(tx, []string{platform, a.Package}, a.ID, dbtypes.Advisory{FixedVersion: a.Fixed}); err != nil {
					return err
				}
				severity, err := dbtypes.NewSeverity(strings.ToUpper(a.Severity))
				if err != nil {
					return err
				}
				if err := w.PutVulnerability(tx, a.ID, dbtypes.Vulnerability{
					Title:          a.Title,
					Severity:       severity.String(),
					VendorSeverity: dbtypes.VendorSeverity{vulnerability.NVD: severity},
				}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("write vulnerability database: %v", err)
	}
	if err := metadata.NewClient(dir).Update(metadata.Metadata{
		Version:    trivydb.SchemaVersion,
		UpdatedAt:  updatedAt.UTC(),
		NextUpdate: updatedAt.Add(6 * time.Hour).UTC(),
	}); err != nil {
		tb.Fatalf("write vulnerability database metadata: %v", err)
	}
}

// Package is an installed apk package.
type Package struct {
	Name, Version string
}

// AlpineImage is a one-layer image of AlpineRelease whose apk database lists
// pkgs; extra files (path → content) let tests make images distinct.
func AlpineImage(tb testing.TB, pkgs []Package, extra map[string]string) v1.Image {
	tb.Helper()
	files := map[string]string{
		"etc/alpine-release": AlpineRelease + ".0\n",
		"etc/os-release": fmt.Sprintf("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=%s.0\nPRETTY_NAME=\"Alpine Linux v%s\"\n",
			AlpineRelease, AlpineRelease),
	}
	var apk strings.Builder
	for _, p := range pkgs {
		fmt.Fprintf(&apk, "C:Q1%s=\nP:%s\nV:%s\nA:x86_64\nS:1024\nI:4096\nT:%s\nU:https://example.org\nL:MIT\no:%s\n\n",
			strings.Repeat("A", 27), p.Name, p.Version, p.Name, p.Name)
	}
	files["lib/apk/db/installed"] = apk.String()
	for k, v := range extra {
		files[k] = v
	}
	layer, err := tarLayer(files)
	if err != nil {
		tb.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

func tarLayer(files map[string]string) (v1.Layer, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, name := range names {
		for dir := filepath.Dir(name); dir != "." && !dirs[dir]; dir = filepath.Dir(dir) {
			dirs[dir] = true
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// DBArtifact packs the database in dir as Trivy publishes it: an OCI artifact
// with one db.tar.gz layer of Trivy's database media type.
func DBArtifact(tb testing.TB, dir string) v1.Image {
	tb.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range []string{"trivy.db", "metadata.json"} {
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			tb.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:       static.NewLayer(buf.Bytes(), "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"),
		Annotations: map[string]string{"org.opencontainers.image.title": "db.tar.gz"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return img
}
