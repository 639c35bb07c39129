// Package config holds Bailiff's policy configuration: the data policies read as
// data.bailiff.config. It loads a user's YAML over the embedded defaults
// (policies/data.yaml), rejects unknown keys and wrong types with the field's path and
// line, and checks every value before a configuration may replace the running one.
package config

import (
	"strings"
	"time"
)

// Config is the whole configuration. Its JSON form is what policies see.
type Config struct {
	Cluster     Cluster           `json:"cluster"`
	Images      Images            `json:"images"`
	Resources   Resources         `json:"resources"`
	Placement   Placement         `json:"placement"`
	RBAC        RBAC              `json:"rbac"`
	PodSecurity PodSecurity       `json:"podSecurity"`
	Enforcement map[string]string `json:"enforcement"`
	Exemptions  []Exemption       `json:"exemptions"`
}

// Cluster says which cluster this is; policies see it as input.context.cluster.
type Cluster struct {
	Name   string            `json:"name"`
	Region string            `json:"region"`
	Labels map[string]string `json:"labels"`
}

// Images configures the image supply-chain policies.
type Images struct {
	AllowedRegistries []string `json:"allowedRegistries"`
	RequireDigest     bool     `json:"requireDigest"`
	PinDigests        bool     `json:"pinDigests"`
	// NamespaceOverrides replaces settings inside the namespaces it names.
	NamespaceOverrides map[string]ImageOverride `json:"namespaceOverrides"`
	MaxSeverity        string                   `json:"maxSeverity"`
	Unscanned          string                   `json:"unscanned"`
}

// ImageOverride is what one namespace allows instead of the cluster-wide settings.
type ImageOverride struct {
	AllowedRegistries []string `json:"allowedRegistries"`
}

// Resources configures required, defaulted and bounded container resources. Keys are
// "requests.<resource>" or "limits.<resource>".
type Resources struct {
	Require  []string            `json:"require"`
	Defaults map[string]Quantity `json:"defaults"`
	Max      map[string]Quantity `json:"max"`
}

// Placement configures data-residency classes.
type Placement struct {
	DataClasses map[string]DataClass `json:"dataClasses"`
}

// DataClass lists the regions data of one class may live in.
type DataClass struct {
	Regions []string `json:"regions"`
}

// RBAC configures the RBAC policies.
type RBAC struct {
	PrivilegedRoles []string `json:"privilegedRoles"`
	AllowedSubjects []string `json:"allowedSubjects"`
}

// PodSecurity sets the enforced Pod Security Standards level.
type PodSecurity struct {
	Level string `json:"level"`
}

// Exemption lets one policy be skipped for some objects until a date.
type Exemption struct {
	Policy    string `json:"policy"`
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
	Owner     string `json:"owner"`
	Reason    string `json:"reason"`
	Expires   Date   `json:"expires"`
}

// ActiveAt reports whether the exemption still applies at t: through the whole of its
// expiry day, in UTC.
func (e Exemption) ActiveAt(t time.Time) bool {
	return t.Before(e.Expires.Time.AddDate(0, 0, 1))
}

// Matches reports whether the exemption covers an object. Name may end in "*" to cover
// every name with that prefix.
func (e Exemption) Matches(policy, kind, namespace, name string) bool {
	if e.Policy != policy {
		return false
	}
	if e.Namespace != "" && e.Namespace != namespace {
		return false
	}
	if e.Kind != "" && e.Kind != kind {
		return false
	}
	return matchName(e.Name, name)
}

func matchName(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, prefix)
	}
	return pattern == name
}
