package config

import (
	"strings"
	"testing"
	"time"
)

// issueExample is the configuration the project's documentation shows.
const issueExample = `
cluster: {name: prod-eu-1, region: eu-west-1}
images:
  allowedRegistries: [registry.example.com, ghcr.io/acme]
  requireDigest: false
  maxSeverity: high
  unscanned: deny
resources:
  require: [requests.cpu, requests.memory, limits.memory]
  defaults: {requests.cpu: 100m, requests.memory: 128Mi, limits.memory: 256Mi}
  max: {limits.cpu: "8", limits.memory: 16Gi}
placement:
  dataClasses:
    personal: {regions: [eu-west-1, eu-central-1]}
rbac:
  privilegedRoles: [cluster-admin, admin, edit]
  allowedSubjects: [system:masters]
podSecurity: {level: restricted}
enforcement: {BLF-IMG-003: warn}
exemptions:
  - {policy: BLF-RES-001, namespace: legacy, owner: team-a, reason: "migration", expires: 2027-01-31}
`

func TestDefaultIsValidAndDocumented(t *testing.T) {
	cfg, err := Default()
	if err != nil {
		t.Fatalf("the embedded defaults must load: %v", err)
	}
	if cfg.PodSecurity.Level != "baseline" || cfg.Images.MaxSeverity != "high" || cfg.Images.Unscanned != "warn" {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
	if len(cfg.Resources.Require) == 0 || len(cfg.RBAC.PrivilegedRoles) == 0 {
		t.Errorf("defaults must require resources and know privileged roles: %+v", cfg)
	}
}

func TestParseLaysTheFileOverTheDefaults(t *testing.T) {
	cfg, err := Parse("example.yaml", []byte(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Region != "eu-west-1" || cfg.PodSecurity.Level != "restricted" {
		t.Errorf("file values not applied: %+v", cfg)
	}
	if got := cfg.Resources.Max["limits.cpu"]; got != "8" {
		t.Errorf("max limits.cpu = %q, want 8", got)
	}
	if got := cfg.Placement.DataClasses["personal"].Regions; len(got) != 2 {
		t.Errorf("data class regions = %v", got)
	}
	if e := cfg.Exemptions[0]; e.Expires.Format("2006-01-02") != "2027-01-31" || e.Owner != "team-a" {
		t.Errorf("exemption = %+v", e)
	}

	partial, err := Parse("partial.yaml", []byte("images: {maxSeverity: medium}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if partial.Images.Unscanned != "warn" || partial.Images.MaxSeverity != "medium" {
		t.Errorf("a partial section must keep the other defaults: %+v", partial.Images)
	}
	if partial.PodSecurity.Level != "baseline" {
		t.Errorf("untouched sections keep their defaults: %+v", partial.PodSecurity)
	}
}

func TestParseEmptyFileGivesDefaults(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "~\n"} {
		cfg, err := Parse("empty.yaml", []byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if cfg.PodSecurity.Level != "baseline" {
			t.Errorf("%q: %+v", doc, cfg)
		}
	}
}

func TestParseNumbersAsQuantities(t *testing.T) {
	cfg, err := Parse("q.yaml", []byte("resources: {max: {limits.cpu: 8, limits.memory: 1.5}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Resources.Max["limits.cpu"] != "8" || cfg.Resources.Max["limits.memory"] != "1.5" {
		t.Errorf("max = %v", cfg.Resources.Max)
	}
}

func TestParseRejectsBadInputNamingTheField(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // every fragment must be in the error
	}{
		{"unknown top-level key", "imagez: {}\n", []string{"imagez (line 1): unknown field", `did you mean "images"`}},
		{"unknown nested key", "images:\n  allowedRegistry: [a.io]\n", []string{"images.allowedRegistry (line 2): unknown field", `did you mean "allowedRegistries"`}},
		{"wrong type for a bool", "images: {requireDigest: yes}\n", []string{"images.requireDigest", "must be true or false"}},
		{"a list where a mapping belongs", "images: [a]\n", []string{"images (line 1): must be a mapping"}},
		{"a number where a string belongs", "cluster: {name: 42}\n", []string{"cluster.name", "must be a string", `"42"`}},
		{"bad severity", "images: {maxSeverity: extreme}\n", []string{"images.maxSeverity", `"extreme" is not one of critical, high, medium, low, none`}},
		{"bad unscanned action", "images: {unscanned: maybe}\n", []string{"images.unscanned"}},
		{"registry with scheme", "images: {allowedRegistries: [\"https://r.io\"]}\n", []string{"images.allowedRegistries[0]", "without a scheme"}},
		{"bad quantity", "resources: {max: {limits.memory: lots}}\n", []string{"resources.max[limits.memory] (line 1)", "not a Kubernetes quantity"}},
		{"bad registry in a namespace override", "images: {namespaceOverrides: {sandbox: {allowedRegistries: [\"https://hub\"]}}}\n", []string{"images.namespaceOverrides[sandbox].allowedRegistries[0]", "without a scheme"}},
		{"unknown key in a namespace override", "images: {namespaceOverrides: {sandbox: {allowedRegistry: []}}}\n", []string{"images.namespaceOverrides[sandbox].allowedRegistry", "unknown field"}},
		{"bad resource key", "resources: {require: [cpu]}\n", []string{"resources.require[0]", "requests.<resource>"}},
		{"default above max", "resources: {defaults: {limits.memory: 32Gi}, max: {limits.memory: 16Gi}}\n", []string{"resources.defaults[limits.memory]", "above resources.max"}},
		{"default request above default limit", "resources: {defaults: {requests.memory: 1Gi, limits.memory: 512Mi}}\n", []string{"resources.defaults[requests.memory]", "above the default limit"}},
		{"data class without regions", "placement: {dataClasses: {personal: {regions: []}}}\n", []string{"placement.dataClasses[personal].regions", "at least one region"}},
		{"service account subject without a namespace", "rbac: {allowedSubjects: [\"ServiceAccount:deployer\"]}\n", []string{"rbac.allowedSubjects[0]", "ServiceAccount:<namespace>:<name>"}},
		{"kind-qualified subject without a name", "rbac: {allowedSubjects: [\"Group:\"]}\n", []string{"rbac.allowedSubjects[0]", "names no group"}},
		{"bad pod security level", "podSecurity: {level: strict}\n", []string{"podSecurity.level", "privileged, baseline, restricted"}},
		{"bad enforcement", "enforcement: {BLF-IMG-003: block}\n", []string{"enforcement[BLF-IMG-003]", "deny, warn, audit"}},
		{"exemption without expiry or owner", "exemptions: [{policy: BLF-RES-001, namespace: legacy, reason: r}]\n", []string{"exemptions[0].expires", "exemptions[0].owner"}},
		{"exemption with bad date", "exemptions: [{policy: P, namespace: n, owner: o, reason: r, expires: 31/01/2027}]\n", []string{"exemptions[0].expires (line 1)", "YYYY-MM-DD"}},
		{"exemption for the whole cluster", "exemptions: [{policy: P, owner: o, reason: r, expires: 2027-01-01}]\n", []string{"exemptions[0]", "needs a namespace or a name"}},
		{"broken YAML", "images: {maxSeverity: [\n", []string{"broken.yaml"}},
		{"several problems at once", "imagez: 1\npodSecurity: {levle: x}\nimages: {maxSeverity: [x]}\n", []string{"imagez", "podSecurity.levle", "images.maxSeverity (line 3): must be a string"}},
		{"several semantic problems at once", "podSecurity: {level: x}\nimages: {maxSeverity: y}\n", []string{"podSecurity.level", "images.maxSeverity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "bad.yaml"
			if tt.name == "broken YAML" {
				name = "broken.yaml"
			}
			_, err := Parse(name, []byte(tt.doc))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, frag := range tt.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error does not contain %q:\n%v", frag, err)
				}
			}
		})
	}
}

func TestExemption(t *testing.T) {
	e := Exemption{Policy: "BLF-RES-001", Namespace: "legacy", Name: "batch-*", Expires: Date{time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)}}
	tests := []struct {
		name                         string
		policy, kind, namespace, obj string
		want                         bool
	}{
		{"matching policy, namespace and name prefix", "BLF-RES-001", "Job", "legacy", "batch-7", true},
		{"other policy", "BLF-RES-002", "Job", "legacy", "batch-7", false},
		{"other namespace", "BLF-RES-001", "Job", "prod", "batch-7", false},
		{"name outside the prefix", "BLF-RES-001", "Job", "legacy", "web", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.Matches(tt.policy, tt.kind, tt.namespace, tt.obj); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
	if !e.ActiveAt(time.Date(2027, 1, 31, 23, 59, 0, 0, time.UTC)) {
		t.Error("an exemption applies through its whole expiry day")
	}
	if e.ActiveAt(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("an exemption no longer applies the day after it expires")
	}
}

func TestResourceKeysMustNameContainerResources(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // every fragment must be in the error; none: the document is valid
	}{
		{"standard names are accepted", "resources: {require: [requests.cpu, limits.memory, requests.ephemeral-storage]}\n", nil},
		{"huge pages of a size are accepted", "resources: {max: {limits.hugepages-2Mi: 1Gi, limits.hugepages-1Gi: 2Gi}}\n", nil},
		{"extended resources with a domain are accepted", "resources: {require: [limits.nvidia.com/gpu], max: {limits.example.com/fpga: 2}}\n", nil},
		{"a misspelt limit in max is refused with the closest name",
			"resources: {max: {limits.cpus: \"8\", limits.memroy: 16Gi}}\n",
			[]string{"resources.max[limits.cpus] (line 1)", `did you mean "limits.cpu"?`, "resources.max[limits.memroy] (line 1)", `did you mean "limits.memory"?`}},
		{"a misspelt requirement is refused with the closest name",
			"resources:\n  require: [requests.cpu, limits.memroy]\n",
			[]string{"resources.require[1] (line 2)", `"memroy" is not a container resource`, `did you mean "limits.memory"?`}},
		{"a misspelt default is refused with the closest name",
			"resources: {defaults: {request.memory: 128Mi}}\n",
			[]string{"resources.defaults[request.memory]", "requests.<resource> or limits.<resource>", `did you mean "requests.memory"?`}},
		{"names are case-sensitive", "resources: {require: [requests.CPU]}\n", []string{"resources.require[0]", `did you mean "requests.cpu"?`}},
		{"huge pages need a page size", "resources: {require: [limits.hugepages-big]}\n", []string{"resources.require[0]", `"big" is not a page size`}},
		{"the kubernetes.io domain is not for extended resources", "resources: {require: [limits.kubernetes.io/gpu]}\n", []string{"resources.require[0]", "kubernetes.io/ domain"}},
		{"an extended resource may not start with requests.", "resources: {require: [limits.requests.example.com/gpu]}\n", []string{"resources.require[0]", `must not start with "requests."`}},
		{"an extended resource needs a valid qualified name", "resources: {require: [limits.Example.com/gpu]}\n", []string{"resources.require[0]", "not an extended resource name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("resources.yaml", []byte(tt.doc))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, frag := range tt.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error does not contain %q:\n%v", frag, err)
				}
			}
		})
	}
}

func TestAllowedSubjectsWithAMisspeltKindAreRefused(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		want    string // "" when the subject is valid
	}{
		{"a kind-qualified user", "User:alice", ""},
		{"a kind-qualified group with a colon in its name", "Group:system:masters", ""},
		{"a kind-qualified service account", "ServiceAccount:ops:deployer", ""},
		{"a bare name with colons", "system:masters", ""},
		{"a bare service account name", "system:serviceaccount:ops:deployer", ""},
		{"a bare name with an unrelated prefix", "oidc:alice", ""},
		{"a kind missing a letter", "Usr:alice", `did you mean "User:alice"?`},
		{"a kind in lower case", "group:admins", `did you mean "Group:admins"?`},
		{"a misspelt service account kind", "ServiceAcount:ops:deployer", `did you mean "ServiceAccount:ops:deployer"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("rbac.yaml", []byte("rbac:\n  allowedSubjects: [\""+tt.subject+"\"]\n"))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, frag := range []string{"rbac.allowedSubjects[0] (line 2)", "is not a subject kind", tt.want} {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error does not contain %q:\n%v", frag, err)
				}
			}
		})
	}
}

func TestErrorsCarryTheFileAndALine(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"broken YAML on the only line", "images: {maxSeverity: high} x\n", "c.yaml:1: invalid YAML: did not find expected key"},
		{"broken YAML on the only line, without a newline", "images: {maxSeverity: [", "c.yaml:1: invalid YAML: did not find expected node content"},
		{"broken YAML on the first of several lines", "images: {maxSeverity: high} x\npodSecurity: {level: baseline}\n", "c.yaml:1: invalid YAML: did not find expected key"},
		{"broken YAML further down", "images:\n  maxSeverity: high\n - x\n", "c.yaml:3: invalid YAML: did not find expected key"},
		{"a scanner error", "podSecurity: {level: baseline}\ncluster:\n  name: a: b\n", "c.yaml:3: invalid YAML: mapping values are not allowed"},
		{"a control character", "podSecurity: {level: baseline}\ncluster: {name: \"a\x01\"}\n", "c.yaml:2: invalid YAML: control characters are not allowed"},
		{"an unknown anchor", "cluster:\n  name: x\n  labels: *missing\n", "c.yaml:3: invalid YAML: unknown anchor 'missing' referenced"},
		{"a bad value", "cluster: {name: x}\npodSecurity:\n  level: strict\n", "podSecurity.level (line 3):"},
		{"a missing field: the line of the entry that lacks it", "exemptions:\n  - policy: P\n    namespace: n\n    reason: r\n    expires: 2027-01-01\n", "exemptions[0].owner (line 2): is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
