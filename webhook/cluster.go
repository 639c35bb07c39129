package webhook

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/bailiff/bailiff/pkg/input"
)

// ClusterCache answers what policies may know of the cluster (Namespaces and
// StorageClasses) from shared informers, so admission never waits on the API server.
type ClusterCache struct {
	factory        informers.SharedInformerFactory
	namespaces     listersv1.NamespaceLister
	storageClasses storagelisters.StorageClassLister
	synced         []cache.InformerSynced
}

// NewClusterCache watches Namespaces and StorageClasses with client, resyncing at resync.
func NewClusterCache(client kubernetes.Interface, resync time.Duration) *ClusterCache {
	factory := informers.NewSharedInformerFactory(client, resync)
	namespaces := factory.Core().V1().Namespaces()
	storageClasses := factory.Storage().V1().StorageClasses()
	return &ClusterCache{
		factory:        factory,
		namespaces:     namespaces.Lister(),
		storageClasses: storageClasses.Lister(),
		synced:         []cache.InformerSynced{namespaces.Informer().HasSynced, storageClasses.Informer().HasSynced},
	}
}

// Start runs the informers until ctx ends and waits for their first full lists.
func (c *ClusterCache) Start(ctx context.Context) error {
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("cluster cache did not sync: %w", ctx.Err())
	}
	return nil
}

// Synced reports whether the caches hold the full lists.
func (c *ClusterCache) Synced() bool {
	for _, synced := range c.synced {
		if !synced() {
			return false
		}
	}
	return true
}

// Namespace implements ClusterContext.
func (c *ClusterCache) Namespace(name string) (*input.Namespace, bool) {
	ns, err := c.namespaces.Get(name)
	if err != nil {
		return nil, false
	}
	return &input.Namespace{Name: ns.Name, Labels: ns.Labels, Annotations: ns.Annotations}, true
}

// StorageClasses implements ClusterContext.
func (c *ClusterCache) StorageClasses() map[string]map[string]any {
	list, err := c.storageClasses.List(labels.Everything())
	if err != nil {
		return nil
	}
	out := make(map[string]map[string]any, len(list))
	for _, sc := range list {
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(sc)
		if err != nil {
			continue
		}
		out[sc.Name] = obj
	}
	return out
}
