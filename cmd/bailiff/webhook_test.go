package main

import (
	"strings"
	"testing"
)

func TestWebhookRefusesSelfManagedTLSFlagsThatCannotWork(t *testing.T) {
	managed := []string{"webhook", "--tls-self-managed", "--tls-secret=bailiff-webhook-tls", "--validating-webhook-configuration=bailiff"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"without the Secret", []string{"webhook", "--tls-self-managed", "--validating-webhook-configuration=bailiff"}, "needs --tls-secret"},
		{"without a webhook configuration", []string{"webhook", "--tls-self-managed", "--tls-secret=s"}, "needs --validating-webhook-configuration or --mutating-webhook-configuration"},
		{"with --tls-self-signed", append(managed, "--tls-self-signed"), "exclude each other"},
		{"without the API server", append(managed, "--no-cluster"), "drop --no-cluster"},
		{"a Secret without --tls-self-managed", []string{"webhook", "--tls-secret=s"}, "need --tls-self-managed"},
		{"a memory limit that is not a quantity", []string{"webhook", "--memory-limit=lots"}, `--memory-limit "lots" is not a quantity`},
		{"a negative GC percentage", []string{"webhook", "--gc-percent=-5"}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestWebhookHelpListsTheChartsSelfManagedTLSFlags(t *testing.T) {
	_, stdout, _ := runCLI(t, "", "webhook", "--help")
	for _, flag := range []string{"--tls-self-managed", "--tls-secret", "--tls-ca-validity", "--tls-cert-validity",
		"--validating-webhook-configuration", "--mutating-webhook-configuration", "--tls-host"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("webhook --help does not list %s", flag)
		}
	}
}
