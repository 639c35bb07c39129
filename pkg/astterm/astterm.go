// Package astterm helps decoders build OPA values cheaply: shared terms for the strings
// Kubernetes objects repeat (Common), and an Allocator that carves terms and array
// element slices from chunks, so that one allocation serves many.
//
// Values built this way share terms, so they must not be modified in place.
package astterm

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

const (
	// MinChunk and MaxChunk bound the number of terms in one chunk.
	MinChunk, MaxChunk = 16, 512
	// elemChunk is the number of array elements allocated at once.
	elemChunk = 64
)

// common holds shared terms for frequent Kubernetes keys and values, OPA's interned ones
// where it has them. Built once at initialisation, only read afterwards.
var common = NewTable(strings.Fields(`
	apiVersion kind metadata name namespace generateName uid labels annotations
	ownerReferences finalizers creationTimestamp resourceVersion generation managedFields
	spec status template replicas selector matchLabels matchExpressions key operator values
	strategy type rollingUpdate maxSurge maxUnavailable containers initContainers
	ephemeralContainers image imagePullPolicy command args workingDir ports containerPort
	hostPort protocol port targetPort env envFrom value valueFrom secretKeyRef
	configMapKeyRef resources requests limits cpu memory ephemeral-storage volumeMounts
	mountPath readOnly volumes configMap secret secretName emptyDir hostPath path
	securityContext runAsUser runAsGroup runAsNonRoot fsGroup privileged
	allowPrivilegeEscalation readOnlyRootFilesystem capabilities add drop seccompProfile
	serviceAccountName automountServiceAccountToken hostNetwork hostPID hostIPC nodeSelector
	tolerations effect affinity livenessProbe readinessProbe startupProbe httpGet scheme
	initialDelaySeconds periodSeconds restartPolicy imagePullSecrets rules verbs apiGroups
	resourceNames subjects roleRef apiGroup data stringData clusterIP jobTemplate schedule

	v1 apps/v1 batch/v1 rbac.authorization.k8s.io rbac.authorization.k8s.io/v1 Deployment
	StatefulSet DaemonSet ReplicaSet Job CronJob Pod Service ConfigMap Secret Role RoleBinding
	ClusterRole ClusterRoleBinding ServiceAccount ALL RuntimeDefault TCP UDP Always
	IfNotPresent Never ClusterIP * get list watch create update patch delete app http
	50m 100m 250m 500m 1 64Mi 128Mi 256Mi 512Mi 1Gi 2Gi`)...)

// NewTable returns a table of shared terms for strs and the empty string, OPA's interned
// ones where it has them, for a decoder to look strings up in. It must only be read.
func NewTable(strs ...string) map[string]*ast.Term {
	m := map[string]*ast.Term{"": ast.InternedTerm("")}
	for _, s := range strs {
		m[s] = ast.InternedTerm(s)
	}
	return m
}

// Common returns the shared term holding the string s when s is one of the frequent
// Kubernetes keys and values (or the empty string), and nil otherwise.
func Common(s string) *ast.Term {
	return common[s]
}

// Allocator hands out terms and array element slices carved from chunks. Its zero value
// is ready to use; NewAllocator sizes the first chunk for the expected number of terms.
// An Allocator is not safe for concurrent use.
type Allocator struct {
	terms []ast.Term  // unused terms of the current chunk
	next  int         // size of the next chunk of terms
	spare []*ast.Term // unused array elements of the current chunk
}

// NewAllocator returns an Allocator whose first chunk holds about expected terms (within
// MinChunk and MaxChunk); each chunk after it is twice the size of the last, up to
// MaxChunk.
func NewAllocator(expected int) Allocator {
	return Allocator{next: expected}
}

// Term returns a term holding v.
func (a *Allocator) Term(v ast.Value) *ast.Term {
	if len(a.terms) == 0 {
		n := min(max(a.next, MinChunk), MaxChunk)
		a.terms, a.next = make([]ast.Term, n), 2*n
	}
	t := &a.terms[0]
	a.terms = a.terms[1:]
	t.Value = v
	return t
}

// String returns a term holding the string s: the shared one when s is common.
func (a *Allocator) String(s string) *ast.Term {
	if t, ok := common[s]; ok {
		return t
	}
	return a.Term(ast.String(s))
}

// StringBytes is String for the bytes of b, which it does not keep.
func (a *Allocator) StringBytes(b []byte) *ast.Term {
	if t, ok := common[string(b)]; ok {
		return t
	}
	return a.Term(ast.String(b))
}

// Elems returns a copy of elems in a slice of its own, as ast.NewArray keeps the slice
// it is given, so that elems can be a reused stack. Its capacity is capped, so that
// appending to it cannot clobber another's.
func (a *Allocator) Elems(elems []*ast.Term) []*ast.Term {
	n := len(elems)
	if n > len(a.spare) {
		a.spare = make([]*ast.Term, max(n, elemChunk))
	}
	own := a.spare[:n:n]
	a.spare = a.spare[n:]
	copy(own, elems)
	return own
}

// Array returns a term holding an array of elems, copied as Elems does.
func (a *Allocator) Array(elems []*ast.Term) *ast.Term {
	return a.Term(ast.NewArray(a.Elems(elems)...))
}
