package images

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	k8schain "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	"k8s.io/client-go/kubernetes"
)

// PullCredentials names whose registry credentials a workload's images are pulled
// with: its namespace, service account and imagePullSecrets.
type PullCredentials struct {
	Namespace        string   `json:"namespace,omitempty"`
	ServiceAccount   string   `json:"serviceAccount,omitempty"`
	ImagePullSecrets []string `json:"imagePullSecrets,omitempty"`
}

// scope identifies the credentials, so a failure with some is not taken for a failure
// with others.
func (p PullCredentials) scope() string {
	return p.Namespace + "/" + p.ServiceAccount + "/" + strings.Join(p.ImagePullSecrets, ",")
}

// KubernetesKeychain is the keychain the kubelet would pull a workload's images with:
// its imagePullSecrets and its service account's. It reads them from the API server on
// first use only, so a digest answered from the cache costs no API call.
func KubernetesKeychain(ctx context.Context, client kubernetes.Interface, creds PullCredentials) authn.Keychain {
	return &lazyKeychain{creds: creds, build: func() (authn.Keychain, error) {
		return k8schain.New(ctx, client, k8schain.Options{
			Namespace:          creds.Namespace,
			ServiceAccountName: creds.ServiceAccount,
			ImagePullSecrets:   creds.ImagePullSecrets,
		})
	}}
}

type lazyKeychain struct {
	creds PullCredentials
	build func() (authn.Keychain, error)
	once  sync.Once
	kc    authn.Keychain
	err   error
}

// Resolve implements authn.Keychain.
func (l *lazyKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	l.once.Do(func() { l.kc, l.err = l.build() })
	if l.err != nil {
		return nil, fmt.Errorf("read pull credentials of %s: %w", l.creds.scope(), l.err)
	}
	return l.kc.Resolve(r)
}

// Scope implements scopedKeychain.
func (l *lazyKeychain) Scope() string { return l.creds.scope() }

// scopedKeychain is a keychain that names the credentials it stands for.
type scopedKeychain interface {
	Scope() string
}
