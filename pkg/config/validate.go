package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
)

// Allowed values of the enumerated settings.
var (
	Severities        = []string{"critical", "high", "medium", "low", "none"}
	UnscannedActions  = []string{"deny", "warn", "allow"}
	PodSecurityLevels = []string{"privileged", "baseline", "restricted"}
	Enforcements      = []string{"deny", "warn", "audit"}
)

// Validate checks every value, returning one error per problem, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, msg string, args ...any) {
		errs = append(errs, fieldError{path: path, msg: fmt.Sprintf(msg, args...)})
	}
	oneOf := func(path, value string, allowed []string) {
		if !slices.Contains(allowed, value) {
			bad(path, "%q is not one of %s", value, strings.Join(allowed, ", "))
		}
	}

	for i, r := range c.Images.AllowedRegistries {
		if msg := registryProblem(r); msg != "" {
			bad(fmt.Sprintf("images.allowedRegistries[%d]", i), "%s", msg)
		}
	}
	for _, ns := range sortedKeysOf(c.Images.NamespaceOverrides) {
		for i, r := range c.Images.NamespaceOverrides[ns].AllowedRegistries {
			if msg := registryProblem(r); msg != "" {
				bad(fmt.Sprintf("images.namespaceOverrides[%s].allowedRegistries[%d]", ns, i), "%s", msg)
			}
		}
	}
	oneOf("images.maxSeverity", c.Images.MaxSeverity, Severities)
	oneOf("images.unscanned", c.Images.Unscanned, UnscannedActions)

	for i, k := range c.Resources.Require {
		if msg := resourceKeyProblem(k); msg != "" {
			bad(fmt.Sprintf("resources.require[%d]", i), "%s", msg)
		}
	}
	for _, group := range []struct {
		name   string
		values map[string]Quantity
	}{{"defaults", c.Resources.Defaults}, {"max", c.Resources.Max}} {
		for _, k := range sortedKeysOf(group.values) {
			if msg := resourceKeyProblem(k); msg != "" {
				bad(fmt.Sprintf("resources.%s[%s]", group.name, k), "%s", msg)
			}
		}
	}
	for _, k := range sortedKeysOf(c.Resources.Defaults) {
		def := resource.MustParse(string(c.Resources.Defaults[k]))
		if limit, ok := c.Resources.Max[k]; ok && def.Cmp(resource.MustParse(string(limit))) > 0 {
			bad(fmt.Sprintf("resources.defaults[%s]", k), "default %s is above resources.max[%s] %s", c.Resources.Defaults[k], k, limit)
		}
		if name, ok := strings.CutPrefix(k, "requests."); ok {
			if limit, ok := c.Resources.Defaults["limits."+name]; ok && def.Cmp(resource.MustParse(string(limit))) > 0 {
				bad(fmt.Sprintf("resources.defaults[%s]", k), "default request %s is above the default limit %s", c.Resources.Defaults[k], limit)
			}
		}
	}

	for _, name := range sortedKeysOf(c.Placement.DataClasses) {
		path := fmt.Sprintf("placement.dataClasses[%s].regions", name)
		regions := c.Placement.DataClasses[name].Regions
		if len(regions) == 0 {
			bad(path, "a data class needs at least one region")
		}
		for i, r := range regions {
			if strings.TrimSpace(r) == "" {
				bad(fmt.Sprintf("%s[%d]", path, i), "a region must not be empty")
			}
		}
	}

	for i, r := range c.RBAC.PrivilegedRoles {
		if strings.TrimSpace(r) == "" {
			bad(fmt.Sprintf("rbac.privilegedRoles[%d]", i), "a role name must not be empty")
		}
	}
	for i, s := range c.RBAC.AllowedSubjects {
		if msg := subjectProblem(s); msg != "" {
			bad(fmt.Sprintf("rbac.allowedSubjects[%d]", i), "%s", msg)
		}
	}
	oneOf("podSecurity.level", c.PodSecurity.Level, PodSecurityLevels)

	for _, id := range sortedKeysOf(c.Enforcement) {
		oneOf(fmt.Sprintf("enforcement[%s]", id), c.Enforcement[id], Enforcements)
	}
	for i, e := range c.Exemptions {
		path := fmt.Sprintf("exemptions[%d]", i)
		for field, value := range map[string]string{"policy": e.Policy, "owner": e.Owner, "reason": e.Reason} {
			if strings.TrimSpace(value) == "" {
				bad(path+"."+field, "is required")
			}
		}
		if e.Expires.IsZero() {
			bad(path+".expires", "is required (YYYY-MM-DD): every exemption must end")
		}
		if e.Namespace == "" && e.Name == "" {
			bad(path, "needs a namespace or a name, so it cannot exempt the whole cluster by accident")
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// subjectKinds are the kinds an allowedSubjects entry may name before a colon.
var subjectKinds = []string{"User", "Group", "ServiceAccount"}

// subjectProblem says what is wrong with an allowedSubjects entry, or "": a bare name,
// or User:<name>, Group:<name>, ServiceAccount:<namespace>:<name>.
func subjectProblem(s string) string {
	if strings.TrimSpace(s) == "" {
		return "a subject must not be empty"
	}
	if rest, ok := strings.CutPrefix(s, "ServiceAccount:"); ok {
		ns, name, found := strings.Cut(rest, ":")
		if !found || ns == "" || name == "" || strings.Contains(name, ":") {
			return fmt.Sprintf("%q must be ServiceAccount:<namespace>:<name>", s)
		}
		return ""
	}
	for _, kind := range []string{"User:", "Group:"} {
		if rest, ok := strings.CutPrefix(s, kind); ok && rest == "" {
			return fmt.Sprintf("%q names no %s", s, strings.ToLower(strings.TrimSuffix(kind, ":")))
		}
	}
	// A bare entry may hold colons ("system:masters"), but one that starts with a
	// near-miss of a kind ("Usr:alice", "user:alice") is a misspelt kind-qualified entry
	// that would silently match nothing: the policy reads it as a bare name.
	prefix, rest, found := strings.Cut(s, ":")
	if !found || slices.Contains(subjectKinds, prefix) {
		return ""
	}
	if kind := closest(prefix, subjectKinds); kind != "" {
		return fmt.Sprintf("%q: %q is not a subject kind (did you mean %q?); write User:<name>, Group:<name> or ServiceAccount:<namespace>:<name>, or a bare name to match any kind (a subject really named %q is written User:%s or Group:%s)",
			s, prefix, kind+":"+rest, s, s, s)
	}
	return ""
}

// standardResourceKeys are the resource keys every container may use, the names did-you-mean
// suggestions are drawn from.
var standardResourceKeys = func() []string {
	var keys []string
	for _, kind := range []string{"requests", "limits"} {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
			keys = append(keys, kind+"."+string(name))
		}
	}
	return keys
}()

// resourceKeyProblem says what is wrong with a resources key, or "": it must be
// requests.<resource> or limits.<resource> with a resource a container can ask for.
func resourceKeyProblem(key string) string {
	kind, name, _ := strings.Cut(key, ".")
	if kind != "requests" && kind != "limits" || name == "" {
		return fmt.Sprintf("%q must be requests.<resource> or limits.<resource>, like requests.cpu or limits.memory%s", key, didYouMean(key, standardResourceKeys))
	}
	if msg := resourceNameProblem(name); msg != "" {
		return fmt.Sprintf("%q: %s%s", key, msg, didYouMean(key, standardResourceKeys))
	}
	return ""
}

// resourceNameProblem applies Kubernetes' rule for container resource names
// (validateContainerResourceName): a standard name (cpu, memory, ephemeral-storage,
// hugepages-<size>), or an extended resource: a qualified name with a domain, outside
// the kubernetes.io/ domain and not starting with "requests.". It returns "" for a good
// name. (Kubernetes itself lets names in the kubernetes.io/ domain through; no container
// resource lives there, so one in a configuration is a mistake.)
func resourceNameProblem(name string) string {
	const usage = "use cpu, memory, ephemeral-storage, hugepages-<page size> (like hugepages-2Mi) or an extended resource with its domain (like nvidia.com/gpu)"
	if !strings.Contains(name, "/") {
		switch corev1.ResourceName(name) {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
			return ""
		}
		if size, ok := strings.CutPrefix(name, corev1.ResourceHugePagesPrefix); ok {
			if q, err := resource.ParseQuantity(size); err != nil || q.Sign() <= 0 {
				return fmt.Sprintf("%q is not a page size, like 2Mi or 1Gi", size)
			}
			return ""
		}
		return fmt.Sprintf("%q is not a container resource Kubernetes knows; %s", name, usage)
	}
	switch {
	case strings.Contains(name, corev1.ResourceDefaultNamespacePrefix):
		return fmt.Sprintf("%q is in the %s domain, which holds Kubernetes' own resources; %s", name, corev1.ResourceDefaultNamespacePrefix, usage)
	case strings.HasPrefix(name, corev1.DefaultResourceRequestsPrefix):
		return fmt.Sprintf("an extended resource name must not start with %q", corev1.DefaultResourceRequestsPrefix)
	}
	// Quota names an extended resource requests.<name>, so that must be valid too.
	if errs := content.IsLabelKey(corev1.DefaultResourceRequestsPrefix + name); len(errs) > 0 {
		return fmt.Sprintf("%q is not an extended resource name: %s", name, strings.Join(errs, "; "))
	}
	return ""
}

// registryProblem says what is wrong with an allowedRegistries entry, or "".
func registryProblem(r string) string {
	switch {
	case r == "":
		return "must not be empty"
	case strings.Contains(r, "://"):
		return fmt.Sprintf("%q must be a host or host/path, without a scheme", r)
	case strings.HasSuffix(r, "/"):
		return fmt.Sprintf("%q must not end with /", r)
	case strings.ContainsAny(r, " @\t"):
		return fmt.Sprintf("%q must be a host or host/path without spaces, tags or digests", r)
	case r != strings.ToLower(r):
		return fmt.Sprintf("%q must be lower case, as image references are", r)
	}
	return ""
}

// sortedKeysOf returns a map's keys in order, so errors come out the same every time.
func sortedKeysOf[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
