package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCLI runs the command line as a user would and returns its exit code and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const compliantPod = `apiVersion: v1
kind: Pod
metadata: {name: ok, namespace: shop}
spec:
  serviceAccountName: app
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: app
      image: registry.example.com/app:1.0
      resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`

const privilegedPod = `apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: shop}
spec:
  containers:
    - name: app
      image: registry.example.com/app:1.0
      securityContext: {privileged: true}
`

func TestScanExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliantPod)
	bad := writeFile(t, dir, "bad.yaml", privilegedPod)
	broken := writeFile(t, dir, "broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n")
	badConfig := writeFile(t, dir, "config.yaml", "images: {maxSeverity: extreme}\n")

	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"nothing denied exits 0", "", []string{"scan", "-f", good}, 0, []string{"1 objects: 0 denied"}, nil},
		{"something denied exits 1", "", []string{"scan", "-f", good, "-f", bad}, 1, []string{"DENIED  Pod shop/bad", "BLF-PSS-007"}, nil},
		{"files may be positional", "", []string{"scan", bad}, 1, []string{"DENIED"}, nil},
		{"standard input", privilegedPod, []string{"scan", "-f", "-"}, 1, []string{"<stdin>:1"}, nil},
		{"broken YAML names file and line, still scans the rest, exits 2", "", []string{"scan", "-f", broken, "-f", bad},
			2, []string{"broken.yaml:4: invalid YAML", "DENIED  Pod shop/bad"}, []string{"input or evaluation errors"}},
		{"a missing file is a usage error", "", []string{"scan", "-f", filepath.Join(dir, "nope.yaml")}, 2, nil, []string{"nope.yaml"}},
		{"no input is a usage error", "", []string{"scan"}, 2, nil, []string{"no manifests given"}},
		{"an unknown format is a usage error", "", []string{"scan", "-f", good, "-o", "xml"}, 2, nil, []string{"unknown output format"}},
		{"an invalid config names the field", "", []string{"scan", "-f", good, "--config", badConfig}, 2, nil, []string{"images.maxSeverity"}},
		{"an unknown flag is a usage error", "", []string{"scan", "--frobnicate"}, 2, nil, []string{"unknown flag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

func TestScanErrorsReachStandardErrorInEveryFormat(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", privilegedPod)
	broken := writeFile(t, dir, "broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n")
	noKind := writeFile(t, dir, "nokind.json", "{\"apiVersion\": \"v1\"}\n")
	tests := []struct {
		format     string
		stderr     []string
		notStderr  []string
		stdoutHint string // what the table shows instead
	}{
		{"table", []string{"2 input or evaluation errors (see above)"}, []string{"broken.yaml:4"}, "broken.yaml:4: invalid YAML"},
		{"json", []string{"2 input or evaluation errors:", "broken.yaml:4: invalid YAML", "nokind.json:1: object has no kind"}, []string{"see above"}, ""},
		{"sarif", []string{"broken.yaml:4: invalid YAML", "nokind.json:1: object has no kind"}, []string{"see above"}, ""},
		{"junit", []string{"broken.yaml:4: invalid YAML", "nokind.json:1: object has no kind"}, []string{"see above"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", "scan", "-f", broken, "-f", noKind, "-f", bad, "-o", tt.format)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			for _, unwanted := range tt.notStderr {
				if strings.Contains(stderr, unwanted) {
					t.Errorf("stderr holds %q:\n%s", unwanted, stderr)
				}
			}
			if !strings.Contains(stdout, tt.stdoutHint) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdoutHint, stdout)
			}
		})
	}
}

func TestScanJSONOutput(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", privilegedPod)
	code, stdout, _ := runCLI(t, "", "scan", "-f", bad, "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		Results []struct {
			Source     string
			Violations []struct{ Policy, Enforcement, Field string }
		}
		Summary struct{ Objects, Denied, Warned int }
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if doc.Summary.Objects != 1 || doc.Summary.Denied != 1 || doc.Results[0].Source != bad+":1" {
		t.Errorf("doc = %+v", doc)
	}
}

func TestScanWithExtraPolicies(t *testing.T) {
	dir := t.TempDir()
	pods := writeFile(t, dir, "pod.yaml", compliantPod)
	policies := filepath.Join(dir, "policies")
	writeFile(t, policies, "owner.rego", `# METADATA
# title: Pods name an owner
# scope: package
# custom:
#   id: ACME-001
#   severity: low
#   enforcement: deny
#   kinds: [Pod]
#   controls: [ACME-1]
package bailiff.acme.owner

import data.bailiff.lib.k8s

violation contains {"msg": "label the pod with its owner", "field": "metadata.labels.owner"} if {
	not k8s.obj.metadata.labels.owner
}
`)
	writeFile(t, policies, "owner_test.rego", `package bailiff.acme.owner_test

import data.bailiff.acme.owner

test_unlabelled if {
	count(owner.violation) == 1 with input as {"request": {"kind": {"kind": "Pod"}, "object": {"metadata": {}}}}
}
`)
	code, stdout, stderr := runCLI(t, "", "scan", "-f", pods, "--policies", policies)
	if code != 1 || !strings.Contains(stdout, "ACME-001") {
		t.Errorf("exit %d, want the extra policy to deny\n%s%s", code, stdout, stderr)
	}

	writeFile(t, policies, "broken.rego", "package bailiff.acme.broken\n\nviolation contains x if {\n\tx := := 1\n}\n")
	code, _, stderr = runCLI(t, "", "scan", "-f", pods, "--policies", policies)
	if code != 2 || !strings.Contains(stderr, "broken.rego:4:") {
		t.Errorf("a broken extra policy must be refused with file:row: exit %d\n%s", code, stderr)
	}
}

func TestPolicyListAndTest(t *testing.T) {
	code, stdout, _ := runCLI(t, "", "policy", "list")
	if code != 0 || !strings.Contains(stdout, "BLF-IMG-001") || !strings.Contains(stdout, "CONTROLS") {
		t.Errorf("policy list: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "", "policy", "list", "-o", "json")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &list) != nil || len(list) < 30 {
		t.Errorf("policy list -o json: exit %d, %d policies", code, len(list))
	}

	code, stdout, _ = runCLI(t, "", "policy", "test")
	if code != 0 || !strings.Contains(stdout, " passed, 0 failed") {
		t.Errorf("policy test: exit %d\n%s", code, stdout)
	}

	dir := t.TempDir()
	writeFile(t, dir, "failing_test.rego", "package bailiff.acme.failing_test\n\ntest_wrong if { 1 == 2 }\n")
	code, stdout, _ = runCLI(t, "", "policy", "test", dir)
	if code != 1 || !strings.Contains(stdout, "FAIL") || !strings.Contains(stdout, "failing_test.rego:3:") {
		t.Errorf("a failing test: exit %d\n%s", code, stdout)
	}
}

// A policy that names no controls lists them as [] in JSON, never null, in `policy
// list` and in the violations `scan` prints.
func TestPolicyWithoutControlsPrintsAnEmptyList(t *testing.T) {
	dir := t.TempDir()
	pods := writeFile(t, dir, "pod.yaml", compliantPod)
	policies := filepath.Join(dir, "policies")
	writeFile(t, policies, "owner.rego", `# METADATA
# title: Pods name an owner
# scope: package
# custom:
#   id: ACME-002
#   severity: low
#   enforcement: deny
#   kinds: [Pod]
package bailiff.acme.owner

import data.bailiff.lib.k8s

violation contains {"msg": "label the pod with its owner"} if {
	not k8s.obj.metadata.labels.owner
}
`)
	code, stdout, stderr := runCLI(t, "", "policy", "list", "-o", "json", "--policies", policies)
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &list) != nil {
		t.Fatalf("policy list -o json: exit %d\n%s%s", code, stdout, stderr)
	}
	found := false
	for _, p := range list {
		if p["id"] == "ACME-002" {
			found = true
			if c, ok := p["controls"].([]any); !ok || len(c) != 0 {
				t.Errorf("controls = %#v, want []", p["controls"])
			}
		}
	}
	if !found {
		t.Errorf("ACME-002 not listed\n%s", stdout)
	}

	code, stdout, stderr = runCLI(t, "", "scan", "-f", pods, "--policies", policies, "-o", "json")
	if code != 1 || !strings.Contains(stdout, `"ACME-002"`) || regexp.MustCompile(`"controls":\s*null`).MatchString(stdout) {
		t.Errorf("scan -o json: exit %d, want ACME-002 denied with controls []\n%s%s", code, stdout, stderr)
	}
}

func TestPolicyTestHasOPATestSemantics(t *testing.T) {
	library, err := filepath.Abs("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	withData := t.TempDir()
	writeFile(t, withData, "data.json", `{"x": 1}`)
	writeFile(t, withData, "x_test.rego", "package acme.x_test\n\ntest_x if data.x == 1\n")

	_, builtIn, _ := runCLI(t, "", "policy", "test")
	tests := []struct {
		name   string
		dir    string
		stdout string
	}{
		{"data files in the directory are loaded", withData, "1 passed, 0 failed"},
		{"the library by its absolute path is not loaded twice", library, builtIn},
		{"the library by a relative path is not loaded twice", "../../policies", builtIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", "policy", "test", tt.dir)
			if code != 0 || !strings.Contains(stdout, tt.stdout) {
				t.Errorf("exit %d, want 0 and %q\n%s%s", code, tt.stdout, stdout, stderr)
			}
		})
	}
}
