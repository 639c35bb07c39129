package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bailiff/bailiff/pkg/compliance"
)

func newComplianceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compliance",
		Short: "Work with the compliance frameworks (CIS, NSA/CISA, PSS, GDPR)",
	}
	cmd.AddCommand(newComplianceControlsCommand())
	return cmd
}

// controlRow is one control as `compliance controls -o json` prints it.
type controlRow struct {
	Framework   string            `json:"framework"`
	ID          string            `json:"id"`
	Section     string            `json:"section"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Automation  string            `json:"automation"`
	Policies    []string          `json:"policies,omitempty"`
	Includes    []string          `json:"includes,omitempty"`
	NotLoaded   []string          `json:"notLoaded,omitempty"`
	Guidance    string            `json:"guidance,omitempty"`
	Disputed    map[string]string `json:"disputed,omitempty"`
}

func newComplianceControlsCommand() *cobra.Command {
	var (
		pf        policyFlags
		framework string
		output    string
	)
	cmd := &cobra.Command{
		Use:   "controls",
		Short: "List the controls of each framework and the policies that automate them",
		Long: `Controls lists every control of the framework catalogues built into Bailiff, whether it
is automated (by policies, or by the audit trail itself) or manual, and which policies
decide it. Policies the loaded set lacks are marked; a disagreement between the policies'
metadata and the catalogues is printed as a warning.`,
		Example: `  bailiff compliance controls
  bailiff compliance controls --framework cis -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &exitError{code: exitUsage, err: fmt.Errorf("unknown output format %q: use table or json", output)}
			}
			cat, err := compliance.Load()
			if err != nil {
				return err
			}
			frameworks, err := cat.Select(framework)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			engine, err := pf.engine(cmd.Context())
			if err != nil {
				return err
			}
			loaded := map[string]bool{}
			var pcs []compliance.PolicyControls
			for _, p := range engine.Set().Policies() {
				loaded[p.ID] = true
				pcs = append(pcs, compliance.PolicyControls{ID: p.ID, Controls: p.Controls})
			}
			if err := cat.CheckPolicies(pcs); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", err)
			}
			var rows []controlRow
			for _, fw := range frameworks {
				for _, c := range fw.Controls {
					row := controlRow{
						Framework: fw.ID, ID: c.ID, Section: c.Section, Title: c.Title,
						Description: oneLine(c.Description), Automation: c.Automation(), Policies: c.Policies,
						Includes: c.Includes, Guidance: oneLine(c.Guidance), Disputed: c.Disputed,
					}
					for _, p := range cat.EffectivePolicies(&c) {
						if !loaded[p] {
							row.NotLoaded = append(row.NotLoaded, p)
						}
					}
					rows = append(rows, row)
				}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FRAMEWORK\tCONTROL\tTITLE\tAUTOMATED BY")
			automated, total := 0, 0
			for _, r := range rows {
				by := "manual"
				switch r.Automation {
				case compliance.AutomationTrail:
					by = "the audit trail"
				case compliance.AutomationPolicies:
					by = compactIDs(r.Policies)
					if len(r.Includes) > 0 {
						by += " + " + strings.Join(r.Includes, ",")
					}
					if len(r.NotLoaded) > 0 {
						by += " (not loaded: " + strings.Join(r.NotLoaded, ",") + ")"
					}
				}
				if r.Automation != compliance.AutomationManual {
					automated++
				}
				total++
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Framework, r.ID, r.Title, by)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "\n%d controls, %d automated, %d manual.\n", total, automated, total-automated)
			for _, d := range cat.Disputes() {
				if _, fw, _ := cat.Control(d.Control); slices.Contains(frameworks, fw) {
					fmt.Fprintf(out, "%s does not count %s: %s\n", d.Control, d.Policy, d.Reason)
				}
			}
			return nil
		},
	}
	pf.register(cmd)
	cmd.Flags().StringVar(&framework, "framework", compliance.All, "the framework to list: cis, nsa, pss, gdpr or all")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// compactIDs joins policy ids, writing runs of consecutive numbers of one family
// as a range: BLF-PSS-001..012,BLF-RBAC-004.
func compactIDs(ids []string) string {
	var out []string
	for i := 0; i < len(ids); {
		prefix, n, ok := splitID(ids[i])
		j := i + 1
		for ok && j < len(ids) {
			p, m, ok2 := splitID(ids[j])
			if !ok2 || p != prefix || m != n+(j-i) {
				break
			}
			j++
		}
		if j-i >= 3 {
			out = append(out, ids[i]+".."+ids[j-1][len(prefix):])
		} else {
			out = append(out, ids[i:j]...)
		}
		i = j
	}
	return strings.Join(out, ",")
}

// splitID splits BLF-PSS-007 into "BLF-PSS-" and 7.
func splitID(id string) (string, int, bool) {
	i := strings.LastIndex(id, "-")
	n, err := strconv.Atoi(id[i+1:])
	return id[:i+1], n, i >= 0 && err == nil
}

// oneLine folds a catalogue text's line breaks.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
