package webhook

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bailiff/bailiff/pkg/input"
)

// NamespaceCache answers namespace lookups from a shared informer, so admission never
// waits on the API server.
type NamespaceCache struct {
	factory informers.SharedInformerFactory
	lister  listersv1.NamespaceLister
	synced  cache.InformerSynced
}

// NewNamespaceCache watches Namespaces with client, resyncing at resync.
func NewNamespaceCache(client kubernetes.Interface, resync time.Duration) *NamespaceCache {
	factory := informers.NewSharedInformerFactory(client, resync)
	informer := factory.Core().V1().Namespaces()
	return &NamespaceCache{factory: factory, lister: informer.Lister(), synced: informer.Informer().HasSynced}
}

// Start runs the informer until ctx ends and waits for the first full list.
func (c *NamespaceCache) Start(ctx context.Context) error {
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return fmt.Errorf("namespace cache did not sync: %w", ctx.Err())
	}
	return nil
}

// Synced reports whether the cache holds the full list.
func (c *NamespaceCache) Synced() bool { return c.synced() }

// Namespace implements NamespaceLookup.
func (c *NamespaceCache) Namespace(name string) (*input.Namespace, bool) {
	ns, err := c.lister.Get(name)
	if err != nil {
		return nil, false
	}
	return &input.Namespace{Name: ns.Name, Labels: ns.Labels, Annotations: ns.Annotations}, true
}
