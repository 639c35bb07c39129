package scan_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/manifest"
	"github.com/bailiff/bailiff/pkg/scan"
)

// yaml11Pod is a Pod that complies with the demo configuration except, perhaps, for
// hostPID and its container's privileged, written as the given YAML words.
func yaml11Pod(hostPID, privileged string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  hostPID: %s
  automountServiceAccountToken: false
  serviceAccountName: app
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: registry.example.com/app:1.0
    resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, privileged: %s}
`, hostPID, privileged)
}

// TestYAML11BooleansAreReadAsKubernetesReadsThem: kubectl reads manifests with
// sigs.k8s.io/yaml, by YAML 1.1's rules, where on and yes are true. A Pod asking for
// hostPID: on and privileged: yes runs privileged in the host's PID namespace, so the
// Pod Security policies must see true there, on every path a manifest is read by.
func TestYAML11BooleansAreReadAsKubernetesReadsThem(t *testing.T) {
	paths := map[string]func(doc string) string{
		"the fast path": func(doc string) string { return doc },
		"yaml.v3 (an anchor)": func(doc string) string {
			return strings.Replace(doc, "name: web\n", "name: &n web\n", 1)
		},
		"a List item": func(doc string) string {
			return "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(doc, "\n"), "\n", "\n  ") + "\n"
		},
	}
	tests := []struct {
		hostPID, privileged string
		denied              bool
	}{
		{"on", "yes", true},
		{"ON", "Y", true},
		{"true", "true", true},
		{"off", "no", false},
		{"\"on\"", "'yes'", false}, // strings, which Kubernetes refuses for these fields
	}
	e := engine(t)
	for name, write := range paths {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/hostPID %s privileged %s", name, tt.hostPID, tt.privileged), func(t *testing.T) {
				objs, errs := manifest.Decode("pod.yaml", strings.NewReader(write(yaml11Pod(tt.hostPID, tt.privileged))))
				if len(errs) > 0 || len(objs) != 1 {
					t.Fatalf("%d objects, errors %v", len(objs), errs)
				}
				res := scan.New(e, 1).Scan(context.Background(), objs, nil).Results[0]
				if res.Error != "" {
					t.Fatal(res.Error)
				}
				found := map[string]bool{}
				for _, v := range res.Violations {
					found[v.Policy] = true
				}
				if res.Denied() != tt.denied || found["BLF-PSS-003"] != tt.denied || found["BLF-PSS-007"] != tt.denied {
					t.Errorf("denied %v, host namespaces (BLF-PSS-003) %v, privileged (BLF-PSS-007) %v; want %v: %+v",
						res.Denied(), found["BLF-PSS-003"], found["BLF-PSS-007"], tt.denied, res.Violations)
				}
			})
		}
	}
}

// TestValuesKubernetesRefusesAreErrorsAtTheirLine: JSON has no NaN or infinity and no
// null keys, so Kubernetes refuses such manifests; the scan reports them at their line
// rather than read them some other way.
func TestValuesKubernetesRefusesAreErrorsAtTheirLine(t *testing.T) {
	const ok = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
	for _, tt := range []struct{ name, doc, want string }{
		{"NaN", ok + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\nspec:\n  priority: .nan\n", "m.yaml:10: "},
		{"infinity in a List item", ok + "---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  spec: {priority: -.Inf}\n", "m.yaml:10: "},
		{"a null key", ok + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  ~: x\n", "m.yaml:9: "},
		{"keys Kubernetes keeps either of", ok + "---\napiVersion: v1\nkind: ConfigMap\ndata:\n  1: x\n  \"1\": y\n", "m.yaml:9: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := manifest.Decode("m.yaml", strings.NewReader(tt.doc))
			if len(objs) != 1 || len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tt.want) {
				t.Fatalf("%d objects, errors %v; want the ConfigMap and an error starting %q", len(objs), errs, tt.want)
			}
		})
	}
}
