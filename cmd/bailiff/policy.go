package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bailiff/bailiff/pkg/policy"
)

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "List and test policies",
	}
	cmd.AddCommand(newPolicyListCommand(), newPolicyTestCommand())
	return cmd
}

func newPolicyListCommand() *cobra.Command {
	var (
		pf     policyFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the loaded policies with ids, titles, severities and controls",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			engine, err := pf.engine(cmd.Context())
			if err != nil {
				return err
			}
			policies := engine.Set().Policies()
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(policies)
			case "table":
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSEVERITY\tENFORCEMENT\tKINDS\tCONTROLS\tTITLE")
				for _, p := range policies {
					enforcement := p.Enforcement
					if override, ok := engine.Set().Config().Enforcement[p.ID]; ok {
						enforcement = override + " (config)"
					}
					if p.Mutates {
						enforcement = "mutate"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Severity, enforcement,
						strings.Join(p.Kinds, ","), strings.Join(p.Controls, ","), p.Title)
				}
				return tw.Flush()
			}
			return &exitError{code: exitUsage, err: fmt.Errorf("unknown output format %q: use table or json", output)}
		},
	}
	pf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func newPolicyTestCommand() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test [DIR]...",
		Short: "Run Rego policy tests, as opa test does",
		Long: `Test runs Rego test_ rules as opa test does: Rego files and data files (*.json, *.yaml,
*.yml, loaded into data at their directory's path) are read from each DIR, with the default
configuration as data.bailiff.config underneath. Without a DIR it tests the built-in library.

With DIRs, only their tests run, and the built-in library's policies are loaded beside them so
that policies there can use data.bailiff.lib. A package a DIR declares replaces the built-in
one: testing a copy of the library, or a part of it, by any path tests the files on disk.
Exit status 1 when a test fails.`,
		RunE: func(cmd *cobra.Command, dirs []string) error {
			var results []policy.TestResult
			var err error
			if len(dirs) == 0 {
				results, err = policy.Test(cmd.Context(), []policy.Source{policy.Embedded()})
			} else {
				sources := make([]policy.Source, len(dirs))
				for i, d := range dirs {
					sources[i] = policy.Dir(d)
				}
				results, err = policy.TestWithLibrary(cmd.Context(), sources)
			}
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, r := range results {
				if !r.Passed() {
					failed++
					fmt.Fprintln(out, "FAIL", r.String())
				} else if verbose {
					fmt.Fprintln(out, "PASS", r.String())
				}
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", len(results)-failed, failed)
			if failed > 0 {
				return &exitError{code: exitDenied}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every test, not only failures")
	return cmd
}
