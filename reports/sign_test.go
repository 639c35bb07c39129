package reports

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/compliance"
)

func signedJSON(t *testing.T) ([]byte, *Report) {
	t.Helper()
	r := generate(t, Request{Cluster: "prod-eu", Framework: compliance.All})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), r
}

func TestSignedReportVerifies(t *testing.T) {
	data, r := signedJSON(t)
	pub := testKey().Public().(ed25519.PublicKey)
	got, v, err := VerifyJSON(data, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Trusted || v.ReportID != r.ID || v.KeyID != KeyID(pub) || got.ID != r.ID {
		t.Fatalf("verification %+v", v)
	}
	// Without a trusted key, the key carried proves integrity, not origin.
	if _, v, err := VerifyJSON(data, nil); err != nil || v.Trusted {
		t.Fatalf("untrusted verification %+v, %v", v, err)
	}
}

// Every single byte of a signed report matters: flipping any one of them either
// breaks the JSON or fails verification. Whitespace between tokens is the exception
// the canonical form allows, so it is skipped.
func TestAnyAlteredByteFailsVerification(t *testing.T) {
	data, _ := signedJSON(t)
	pub := testKey().Public().(ed25519.PublicKey)
	step := max(1, len(data)/2000) // a sample spread over the whole file
	checked := 0
	for i := 0; i < len(data); i += step {
		if c := data[i]; c == ' ' || c == '\n' {
			continue
		}
		altered := bytes.Clone(data)
		altered[i] ^= 0x01
		if _, _, err := VerifyJSON(altered, pub); err == nil {
			t.Fatalf("altering byte %d (%q in %q) still verifies", i, data[i], around(data, i))
		}
		checked++
	}
	if checked < 500 {
		t.Fatalf("checked only %d bytes", checked)
	}
}

func around(b []byte, i int) string {
	return string(b[max(0, i-30):min(len(b), i+30)])
}

func TestAlteredStatusFailsWithBadSignature(t *testing.T) {
	data, _ := signedJSON(t)
	altered := bytes.Replace(data, []byte(`"status": "fail"`), []byte(`"status": "pass"`), 1)
	_, _, err := VerifyJSON(altered, nil)
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
	}
}

func TestReindentedReportStillVerifies(t *testing.T) {
	data, _ := signedJSON(t)
	var compact bytes.Buffer
	for _, line := range strings.Split(string(data), "\n") {
		compact.WriteString(strings.TrimSpace(line))
	}
	if _, _, err := VerifyJSON(compact.Bytes(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestReportSignedByAnotherKeyFails(t *testing.T) {
	data, _ := signedJSON(t)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
	_, _, err := VerifyJSON(data, other)
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "not by the key given") {
		t.Fatalf("got %v", err)
	}
}

func TestDuplicateMembersAreRefused(t *testing.T) {
	data, _ := signedJSON(t)
	dup := bytes.Replace(data, []byte(`"scope": "cluster",`), []byte(`"scope": "cluster", "scope": "fleet",`), 1)
	if _, _, err := VerifyJSON(dup, nil); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v", err)
	}
}

func TestASignedReportCannotBeSignedAgain(t *testing.T) {
	_, r := signedJSON(t)
	if err := Sign(r, testKey()); err == nil {
		t.Fatal("a signed report was signed again")
	}
}

func TestDetachedSignatureCoversEveryByteOfARendering(t *testing.T) {
	r := generate(t, Request{Cluster: "prod-eu", Framework: "cis"})
	pub := testKey().Public().(ed25519.PublicKey)
	for _, format := range []string{FormatCSV, FormatHTML, FormatPDF} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, r, format, RenderOptions{}); err != nil {
				t.Fatal(err)
			}
			sig, err := SignDetached(r, format, buf.Bytes(), testKey())
			if err != nil {
				t.Fatal(err)
			}
			v, err := VerifyDetached(buf.Bytes(), sig, pub)
			if err != nil || v.ReportID != r.ID || v.Format != format || !v.Trusted {
				t.Fatalf("verification %+v, %v", v, err)
			}
			for _, i := range []int{0, buf.Len() / 2, buf.Len() - 1} {
				altered := bytes.Clone(buf.Bytes())
				altered[i] ^= 0x20
				if _, err := VerifyDetached(altered, sig, pub); !errors.Is(err, ErrBadSignature) {
					t.Errorf("byte %d altered: %v", i, err)
				}
			}
			forged := bytes.Replace(sig, []byte(r.ID), []byte("rpt-000000000000000000000000"), 1)
			if _, err := VerifyDetached(buf.Bytes(), forged, pub); !errors.Is(err, ErrBadSignature) {
				t.Errorf("a signature file naming another report verifies: %v", err)
			}
		})
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "report.key")
	key, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v", info, err)
	}
	again, created, err := LoadOrCreateKey(path)
	if err != nil || created || !key.Equal(again) {
		t.Fatalf("load: %v, created %v", err, created)
	}
	pub, err := LoadPublicKey(path + ".pub")
	if err != nil || !pub.Equal(key.Public()) {
		t.Fatalf("public key: %v", err)
	}
	fromPrivate, err := LoadPublicKey(path)
	if err != nil || !fromPrivate.Equal(key.Public()) {
		t.Fatalf("public key from the private key file: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.key")
	os.WriteFile(junk, []byte("not a key"), 0o600)
	if _, _, err := LoadOrCreateKey(junk); err == nil {
		t.Fatal("a file that is not a key was accepted")
	}
	if b, _ := os.ReadFile(junk); string(b) != "not a key" {
		t.Fatal("a file that is not a key was replaced")
	}
}
