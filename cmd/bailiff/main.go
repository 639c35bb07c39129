// Command bailiff is Bailiff's command line: offline scans and policy tooling today; the
// webhook, auditor and central server as they arrive. Only flags and wiring live here.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes: 0 nothing denied, 1 something denied, 2 usage or input errors.
const (
	exitOK     = 0
	exitDenied = 1
	exitUsage  = 2
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand(stdin)
	var prof cpuProfile
	prof.register(root)
	defer prof.stop()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var exit *exitError
	if errors.As(err, &exit) {
		if exit.err != nil {
			fmt.Fprintln(stderr, "bailiff:", exit.err)
		}
		return exit.code
	}
	fmt.Fprintln(stderr, "bailiff:", err)
	return exitUsage
}

func newRootCommand(stdin io.Reader) *cobra.Command {
	root := &cobra.Command{
		Use:   "bailiff",
		Short: "Policy enforcement and compliance for Kubernetes",
		Long: `Bailiff enforces one set of Rego policies at admission, re-checks what already runs,
and turns the results into compliance reports and a tamper-evident audit trail.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newScanCommand(stdin),
		newPolicyCommand(),
		newWebhookCommand(),
		newAuditCommand(),
		newServerCommand(),
		newTrailCommand(),
		newComplianceCommand(), newReportCommand(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "bailiff", version) },
		},
	)
	return root
}
