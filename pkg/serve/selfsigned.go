package serve

import (
	"os"
	"path/filepath"
	"time"
)

// SelfSigned writes a new CA and a serving certificate signed by it into dir, for local
// use without cert-manager. hosts are the DNS names and IP addresses the certificate
// covers. It returns the CA certificate in PEM, the caBundle of webhook
// configurations and the CA clients trust.
func SelfSigned(dir string, hosts []string, validity time.Duration) ([]byte, error) {
	now := time.Now()
	ca, err := NewCA(now, validity)
	if err != nil {
		return nil, err
	}
	serving, err := IssueServing(ca, hosts, now, validity)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// The key is written before the certificate: a watcher that sees the new
	// certificate always finds its key.
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{KeyFile, serving.KeyPEM, 0o600},
		{CAFile, ca.CertPEM, 0o644},
		{CertFile, serving.CertPEM, 0o644},
	} {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return ca.CertPEM, nil
}

// WriteFileAtomic replaces a file by renaming a complete temporary file over it.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
