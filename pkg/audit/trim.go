package audit

import (
	"maps"
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// lastApplied is kubectl's copy of the whole object as last applied: often
// as large as the object itself, and never something a policy judges.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Trim is the informers' transform: it drops from each cached object what
// policies never see at admission and what doubles its size in memory:
// metadata.managedFields, kubectl's last-applied annotation, and status
// (admission evaluates an object as created, before any status; the
// auditor judges what was asked for, the same way). Anything else, such as
// a tombstone, passes unchanged.
func Trim(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	delete(u.Object, "status")
	if meta, ok := u.Object["metadata"].(map[string]any); ok {
		delete(meta, "managedFields")
		if ann, ok := meta["annotations"].(map[string]any); ok {
			if _, has := ann[lastApplied]; has {
				delete(ann, lastApplied)
				if len(ann) == 0 {
					delete(meta, "annotations")
				}
			}
		}
	}
	return u, nil
}

// sameContent reports whether two versions of a trimmed object differ only
// in metadata the policies do not judge (resourceVersion, generation): an
// update of status alone arrives as such a pair and needs no evaluation.
func sameContent(a, b *unstructured.Unstructured) bool {
	if len(a.Object) != len(b.Object) {
		return false
	}
	for k, va := range a.Object {
		vb, ok := b.Object[k]
		if !ok {
			return false
		}
		if k == "metadata" {
			ma, _ := va.(map[string]any)
			mb, _ := vb.(map[string]any)
			ma, mb = maps.Clone(ma), maps.Clone(mb)
			for _, volatile := range []string{"resourceVersion", "generation"} {
				delete(ma, volatile)
				delete(mb, volatile)
			}
			va, vb = ma, mb
		}
		if !reflect.DeepEqual(va, vb) {
			return false
		}
	}
	return true
}
