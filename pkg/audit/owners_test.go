package audit

import (
	"slices"
	"testing"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/policy"
)

func TestModeFor(t *testing.T) {
	tests := []struct {
		name                 string
		kind, controllerKind string
		watched              bool
		want                 ownerMode
	}{
		{"an object without a controller is reported in full", "Pod", "", false, reportAll},
		{"a Pod of a watched ReplicaSet is reported as its difference", "Pod", "ReplicaSet", true, reportDifference},
		{"a Pod of a watched StatefulSet is reported as its difference", "Pod", "StatefulSet", true, reportDifference},
		{"a Pod whose controller is not watched is reported in full", "Pod", "ReplicaSet", false, reportAll},
		{"a Pod of a custom controller is reported in full", "Pod", "Rollout", true, reportAll},
		{"a ReplicaSet of a Deployment is a template copy", "ReplicaSet", "Deployment", true, reportNone},
		{"a Job of a CronJob is a template copy", "Job", "CronJob", true, reportNone},
		{"a bare ReplicaSet's owner that is not its template source leaves it reported", "ReplicaSet", "StatefulSet", true, reportAll},
		{"a Role owned by a workload is reported in full", "Role", "Deployment", true, reportAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := modeFor(tt.kind, tt.controllerKind, tt.watched); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestViolationKeysMatchAPodToItsTemplate(t *testing.T) {
	tests := []struct {
		name      string
		kind, msg string
		podMsg    string
		same      bool
	}{
		{"a message naming the container matches as it is", "Deployment", `container "app" is privileged`, `container "app" is privileged`, true},
		{"a Deployment's template path is a Pod's spec path", "Deployment",
			"set spec.template.spec.automountServiceAccountToken to false", "set spec.automountServiceAccountToken to false", true},
		{"a CronJob's template path is a Pod's spec path", "CronJob",
			"spec.jobTemplate.spec.template.spec.hostNetwork is true", "spec.hostNetwork is true", true},
		{"another container is another violation", "Deployment", `container "app" is privileged`, `container "debug" is privileged`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			same := violationKey(tt.kind, "BLF-X", tt.msg) == violationKey("Pod", "BLF-X", tt.podMsg)
			if same != tt.same {
				t.Fatalf("same = %v, want %v", same, tt.same)
			}
		})
	}
}

func TestAPodReportsOnlyWhatItsControllerDoesNotHave(t *testing.T) {
	owner := &policy.Result{
		Violations: []policy.Violation{{Policy: "BLF-IMG-001", Message: `container "app" uses docker.io`}},
		Exempted: []policy.ExemptedViolation{{
			Violation: policy.Violation{Policy: "BLF-PSS-001", Message: "spec.template.spec.hostNetwork is true"},
			Exemption: config.Exemption{Policy: "BLF-PSS-001", Owner: "net", Reason: "CNI"},
		}},
	}
	pod := []policy.Violation{
		{Policy: "BLF-IMG-001", Message: `container "app" uses docker.io`},
		{Policy: "BLF-PSS-001", Message: "spec.hostNetwork is true"},
		{Policy: "BLF-PSS-007", Message: `container "istio-proxy" is privileged`},
	}
	reported, covered := difference(pod, ownerKeys("Deployment", owner))
	if len(reported) != 1 || reported[0].Policy != "BLF-PSS-007" {
		t.Fatalf("reported %+v, want only the injected container's violation", reported)
	}
	if !slices.Equal(covered, []string{"BLF-IMG-001", "BLF-PSS-001"}) {
		t.Fatalf("covered %v", covered)
	}
}
