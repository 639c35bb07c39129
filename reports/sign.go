package reports

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bailiff/bailiff/pkg/trail"
)

// AlgorithmEd25519 names the only signature algorithm reports use.
const AlgorithmEd25519 = "Ed25519"

// LoadOrCreateKey reads the Ed25519 private key in the PEM (PKCS #8) file at path,
// or, when there is no file, generates one, writes it there (mode 0600, parent
// directories created) and its public key beside it as path.pub, and says so with
// created. A file that holds something else is an error, never replaced.
func LoadOrCreateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := parsePrivateKey(data)
		if err != nil {
			return nil, false, fmt.Errorf("signing key %s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read signing key: %w", err)
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, fmt.Errorf("encode signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create signing key directory: %w", err)
	}
	// O_EXCL: two processes racing to create the key must not overwrite each other.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("write signing key: %w", err)
	}
	werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("write signing key: %w", werr)
	}
	pub, err := MarshalPublicKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, false, err
	}
	if err := os.WriteFile(path+".pub", pub, 0o644); err != nil {
		return nil, false, fmt.Errorf("write public key: %w", err)
	}
	return key, true, nil
}

// MarshalPublicKey encodes a public key as PEM (PKIX), as LoadPublicKey reads it.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// LoadPublicKey reads an Ed25519 public key from a PEM PUBLIC KEY file (as
// LoadOrCreateKey writes beside the key), a PEM private key (its public half), or
// a file holding the key's raw 32 bytes in base64.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	pub, err := parsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return pub, nil
}

func parsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY (PKCS #8) file")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return key, nil
}

func parsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, errors.New("neither PEM nor a base64 Ed25519 public key")
		}
		return ed25519.PublicKey(raw), nil
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
		}
		return pub, nil
	case "PRIVATE KEY":
		key, err := parsePrivateKey(data)
		if err != nil {
			return nil, err
		}
		return key.Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
}

// KeyID names a public key: "sha256:" and the hex SHA-256 of its raw bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Sign seals a report with key. A signed report cannot be signed again: reports are
// immutable once generated and signed.
func Sign(r *Report, key ed25519.PrivateKey) error {
	if r.Signature != nil {
		return errors.New("the report is already signed")
	}
	if r.ID == "" {
		return errors.New("the report has no ID: make reports with Generator.Generate")
	}
	doc, err := canonicalJSON(r)
	if err != nil {
		return err
	}
	r.Signature = newSignature(key, doc)
	return nil
}

func newSignature(key ed25519.PrivateKey, doc []byte) *Signature {
	pub := key.Public().(ed25519.PublicKey)
	return &Signature{
		Algorithm: AlgorithmEd25519,
		KeyID:     KeyID(pub),
		PublicKey: base64.StdEncoding.EncodeToString(pub),
		Value:     base64.StdEncoding.EncodeToString(ed25519.Sign(key, doc)),
	}
}

// Verification says what checking a signature proved.
type Verification struct {
	ReportID string
	KeyID    string
	// Trusted is true when the signature was checked against a key the caller
	// supplied; false when only against the key the file carries, which proves the
	// file unchanged since signing but not who signed it.
	Trusted bool
	// Format is json for a signed report, or the format a detached signature names.
	Format string
	// BrokenTrails lists clusters whose trail range the report marks broken (JSON only).
	BrokenTrails []string
}

// ErrBadSignature is wrapped by every verification failure that means the content
// or the signature was altered, or was signed by another key.
var ErrBadSignature = errors.New("signature does not verify")

// VerifyJSON checks a signed report file: its signature must verify over the
// canonical JSON of everything but the signature, with trusted when given (else
// the key the report carries). It returns the report decoded.
func VerifyJSON(data []byte, trusted ed25519.PublicKey) (*Report, Verification, error) {
	// Canonicalising the file as it is refuses duplicate members, which a reader
	// and the verifier could resolve differently.
	if _, err := trail.Canonicalize(data); err != nil {
		return nil, Verification{}, fmt.Errorf("%w: not a well-formed JSON report: %v", ErrBadSignature, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, Verification{}, fmt.Errorf("%w: not a JSON report: %v", ErrBadSignature, err)
	}
	rawSig, ok := members["signature"]
	if !ok {
		return nil, Verification{}, errors.New("the report is not signed")
	}
	var sig Signature
	if err := json.Unmarshal(rawSig, &sig); err != nil {
		return nil, Verification{}, fmt.Errorf("%w: unreadable signature: %v", ErrBadSignature, err)
	}
	delete(members, "signature")
	unsigned, err := json.Marshal(members)
	if err != nil {
		return nil, Verification{}, err
	}
	doc, err := trail.Canonicalize(unsigned)
	if err != nil {
		return nil, Verification{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	v, err := checkSignature(sig, doc, trusted)
	if err != nil {
		return nil, Verification{}, err
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, Verification{}, fmt.Errorf("signed, but not a report this version of bailiff reads: %w", err)
	}
	if r.Schema != SchemaV1 {
		return nil, Verification{}, fmt.Errorf("signed, but of schema %q; this version of bailiff reads %s", r.Schema, SchemaV1)
	}
	v.ReportID, v.Format, v.BrokenTrails = r.ID, FormatJSON, r.BrokenTrails()
	return &r, v, nil
}

// checkSignature verifies sig over doc.
func checkSignature(sig Signature, doc []byte, trusted ed25519.PublicKey) (Verification, error) {
	if sig.Algorithm != AlgorithmEd25519 {
		return Verification{}, fmt.Errorf("%w: algorithm %q, want %s", ErrBadSignature, sig.Algorithm, AlgorithmEd25519)
	}
	carried, err := base64.StdEncoding.DecodeString(sig.PublicKey)
	if err != nil || len(carried) != ed25519.PublicKeySize {
		return Verification{}, fmt.Errorf("%w: the signature's public key is not a base64 Ed25519 key", ErrBadSignature)
	}
	if KeyID(carried) != sig.KeyID {
		return Verification{}, fmt.Errorf("%w: the key id %s does not match the public key carried", ErrBadSignature, sig.KeyID)
	}
	value, err := base64.StdEncoding.DecodeString(sig.Value)
	if err != nil {
		return Verification{}, fmt.Errorf("%w: the signature value is not base64", ErrBadSignature)
	}
	key := ed25519.PublicKey(carried)
	v := Verification{KeyID: sig.KeyID}
	if trusted != nil {
		if !bytes.Equal(trusted, carried) {
			return Verification{}, fmt.Errorf("%w: signed by key %s, not by the key given (%s)", ErrBadSignature, sig.KeyID, KeyID(trusted))
		}
		key, v.Trusted = trusted, true
	}
	if !ed25519.Verify(key, doc, value) {
		return Verification{}, fmt.Errorf("%w: the content was altered after signing, or the signature was", ErrBadSignature)
	}
	return v, nil
}

// SchemaDetachedV1 identifies detached signature files.
const SchemaDetachedV1 = "bailiff.io/report-signature/v1"

// Detached is the signature file written beside a CSV, HTML or PDF rendering
// (FILE.sig): it binds the rendering's exact bytes to the signed report it was
// made from. The signature covers the canonical JSON of every member but Signature.
type Detached struct {
	Schema    string     `json:"schema"`
	ReportID  string     `json:"reportId"`
	Format    string     `json:"format"`
	Size      int        `json:"size"`
	SHA256    string     `json:"sha256"`
	Signature *Signature `json:"signature,omitempty"`
}

// SignDetached signs a rendering of a report.
func SignDetached(r *Report, format string, rendering []byte, key ed25519.PrivateKey) ([]byte, error) {
	sum := sha256.Sum256(rendering)
	d := Detached{Schema: SchemaDetachedV1, ReportID: r.ID, Format: format, Size: len(rendering), SHA256: hex.EncodeToString(sum[:])}
	doc, err := canonicalOf(d)
	if err != nil {
		return nil, err
	}
	d.Signature = newSignature(key, doc)
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// VerifyDetached checks a rendering against its detached signature file.
func VerifyDetached(rendering, sigFile []byte, trusted ed25519.PublicKey) (Verification, error) {
	var d Detached
	dec := json.NewDecoder(bytes.NewReader(sigFile))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil || d.Signature == nil || d.Schema != SchemaDetachedV1 {
		return Verification{}, fmt.Errorf("%w: not a report signature file (%s)", ErrBadSignature, SchemaDetachedV1)
	}
	sig := *d.Signature
	d.Signature = nil
	doc, err := canonicalOf(d)
	if err != nil {
		return Verification{}, err
	}
	v, err := checkSignature(sig, doc, trusted)
	if err != nil {
		return Verification{}, err
	}
	sum := sha256.Sum256(rendering)
	if len(rendering) != d.Size || hex.EncodeToString(sum[:]) != d.SHA256 {
		return Verification{}, fmt.Errorf("%w: the %s file was altered after signing (its SHA-256 is %s, the signature covers %s)", ErrBadSignature, d.Format, hex.EncodeToString(sum[:]), d.SHA256)
	}
	v.ReportID, v.Format = d.ReportID, d.Format
	return v, nil
}

func canonicalOf(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return trail.Canonicalize(raw)
}
