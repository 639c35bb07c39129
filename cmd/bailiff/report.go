package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/reports"
)

func newReportCommand() *cobra.Command {
	var d reportDownload
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Download, generate and verify signed compliance reports",
		Long: `With --server, report asks the Bailiff server to make a compliance report of a cluster (or
the fleet) for a framework, signed with the server's key and kept there, and writes it in
the format asked for; CSV, HTML and PDF get their detached signature in FILE.sig, and the
server's public key is written to FILE.pub, so 'bailiff report verify' can check it.
--id downloads a report the server already keeps (GET /api/v1/reports lists them).

'report generate' makes a report straight from a store instead, and 'report verify'
checks one.`,
		Example: `  bailiff report --server https://bailiff.example.com --token-file auditor.token \
      --cluster prod-eu --framework cis --format pdf -o cis.pdf
  bailiff report verify cis.pdf --public-key cis.pdf.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return d.run(cmd) },
	}
	d.register(cmd)
	cmd.AddCommand(newReportGenerateCommand(), newReportVerifyCommand())
	return cmd
}

// defaultReportKey is $BAILIFF_REPORT_KEY, the server's report signing key.
func defaultReportKey() string { return os.Getenv("BAILIFF_REPORT_KEY") }

func newReportGenerateCommand() *cobra.Command {
	var (
		pf           policyFlags
		storeDSN     string
		cluster      string
		fleet        bool
		framework    string
		format       string
		outFile      string
		keyFile      string
		from, at     string
		maxResources int
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate a signed compliance report of a cluster (or the fleet) from the store",
		Long: `Generate reads a cluster's open findings, admission decisions and audit trail from the
store, decides every control of the framework, and writes the report signed with the
Ed25519 key in --key (created, with KEY.pub beside it, if the file does not exist).

JSON is the source of truth and carries its signature. CSV, HTML and PDF are renderings of
it; each gets a detached signature in FILE.sig that binds its exact bytes to the report.
Check either with 'bailiff report verify'.

The report covers --from (default: the start of the trail) to --at (default: now): the
trail range is verified, and a report over a broken trail is written but marked broken on
its cover. Exit codes: 0 written, 1 written but a trail is broken, 2 usage or store errors.`,
		Example: `  bailiff report generate --store sqlite:///var/lib/bailiff/bailiff.db --cluster prod-eu \
      --framework cis --format pdf -o cis.pdf --key /etc/bailiff/report.key
  bailiff report generate --fleet --framework all --format json -o fleet.json --key report.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			usage := func(err error) error { return &exitError{code: exitUsage, err: err} }
			if !slices.Contains(reports.Formats, format) {
				return usage(fmt.Errorf("unknown format %q: use one of %s", format, strings.Join(reports.Formats, ", ")))
			}
			if outFile == "" {
				return usage(errors.New("name the file to write with -o (for json, - writes to standard output)"))
			}
			if outFile == "-" && format != reports.FormatJSON {
				return usage(fmt.Errorf("a %s report needs a file (-o FILE): its signature is written beside it as FILE.sig", format))
			}
			if keyFile == "" {
				return usage(errors.New("name the signing key with --key FILE or $BAILIFF_REPORT_KEY (created if it does not exist)"))
			}
			if fleet == (cluster != "") {
				return usage(errors.New("name one cluster with --cluster, or ask for every cluster with --fleet"))
			}
			var period reports.Period
			var err error
			if period.From, err = optionalTime("from", from); err != nil {
				return err
			}
			if period.To, err = optionalTime("at", at); err != nil {
				return err
			}
			cat, err := compliance.Load()
			if err != nil {
				return err
			}
			if _, err := cat.Select(framework); err != nil {
				return usage(err)
			}
			if err := sqliteFileExists(storeDSN); err != nil {
				return usage(err)
			}
			key, created, err := reports.LoadOrCreateKey(keyFile)
			if err != nil {
				return usage(err)
			}
			if created {
				fmt.Fprintf(cmd.ErrOrStderr(), "created signing key %s; give auditors its public key %s.pub\n", keyFile, keyFile)
			}
			engine, err := pf.engine(ctx)
			if err != nil {
				return err
			}
			st, err := store.Open(ctx, storeDSN)
			if err != nil {
				return usage(err)
			}
			defer st.Close()
			gen := &reports.Generator{
				Source:           &reports.StoreSource{Store: st},
				Catalogue:        cat,
				Policies:         reports.PoliciesOf(engine.Set()),
				PolicySetVersion: engine.Set().Version(),
				Version:          version,
			}
			r, err := gen.Generate(ctx, reports.Request{Cluster: cluster, Fleet: fleet, Framework: framework, Period: period})
			var unknown *reports.UnknownClusterError
			if errors.As(err, &unknown) || errors.Is(err, reports.ErrBadPeriod) {
				return usage(err)
			}
			if err != nil {
				return err
			}
			if err := reports.Sign(r, key); err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := reports.Render(&buf, r, format, reports.RenderOptions{MaxResources: maxResources}); err != nil {
				return err
			}
			written := []string{outFile}
			if outFile == "-" {
				if _, err := cmd.OutOrStdout().Write(buf.Bytes()); err != nil {
					return err
				}
			} else {
				if err := os.WriteFile(outFile, buf.Bytes(), 0o644); err != nil {
					return usage(fmt.Errorf("write report: %w", err))
				}
				if format != reports.FormatJSON {
					sig, err := reports.SignDetached(r, format, buf.Bytes(), key)
					if err != nil {
						return err
					}
					if err := os.WriteFile(outFile+".sig", sig, 0o644); err != nil {
						return usage(fmt.Errorf("write signature: %w", err))
					}
					written = append(written, outFile+".sig")
				}
			}
			msg := cmd.ErrOrStderr()
			if outFile != "-" {
				msg = cmd.OutOrStdout()
			}
			fmt.Fprintf(msg, "report %s (%s, %s)\n", r.ID, r.Scope, strings.Join(clusterNames(r), ", "))
			for _, s := range r.Summary {
				fmt.Fprintf(msg, "  %-5s %7s  %d pass, %d fail, %d n/a, %d manual\n", s.Framework, compliance.FormatScore(s.Score),
					s.Controls.Pass, s.Controls.Fail, s.Controls.NotApplicable, s.Controls.Manual)
			}
			if outFile != "-" {
				fmt.Fprintf(msg, "wrote %s\n", strings.Join(written, " and "))
			}
			if broken := r.BrokenTrails(); len(broken) > 0 {
				for _, name := range broken {
					c, _ := r.Cluster(name)
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: the trail of %s is BROKEN at seq %d (%s); the report says so on its cover\n", name, c.Trail.Break.Seq, c.Trail.Break.Reason)
				}
				return &exitError{code: exitDenied}
			}
			return nil
		},
	}
	f := cmd.Flags()
	pf.register(cmd)
	f.StringVar(&storeDSN, "store", defaultStore(), storeFlagHelp)
	f.StringVar(&cluster, "cluster", "", "the cluster to report on")
	f.BoolVar(&fleet, "fleet", false, "report on every cluster in the store")
	f.StringVar(&framework, "framework", compliance.All, "the framework: cis, nsa, pss, gdpr or all")
	f.StringVar(&format, "format", reports.FormatJSON, "json (the signed source of truth), csv, html or pdf")
	f.StringVarP(&outFile, "output", "o", "", "the file to write (required; - for JSON on standard output)")
	f.StringVar(&keyFile, "key", defaultReportKey(), "the Ed25519 signing key, PEM (default $BAILIFF_REPORT_KEY; created if missing)")
	f.StringVar(&from, "from", "", "start of the period (RFC 3339 or a date; default: the start of the trail)")
	f.StringVar(&at, "at", "", "the snapshot time and end of the period (RFC 3339 or a date; default: now)")
	f.IntVar(&maxResources, "max-resources", reports.DefaultMaxResources, "failing resources listed per control in HTML and PDF (0: all); CSV and JSON list all")
	return cmd
}

func clusterNames(r *reports.Report) []string {
	var out []string
	for _, c := range r.Clusters {
		out = append(out, c.Cluster)
	}
	return out
}

func newReportVerifyCommand() *cobra.Command {
	var publicKey, sigFile string
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check the signature of a report",
		Long: `Verify checks that a report is exactly as it was signed. A JSON report carries its
signature; a CSV, HTML or PDF rendering is checked against its detached signature
(FILE.sig, or --signature). With --public-key the signer must hold that key (the server's
KEY.pub); without it, only the key carried in the file is used, which proves the file
unchanged but not who signed it.

Exit codes: 0 the signature verifies, 1 it does not (the file was altered or signed by
another key), 2 the file or key cannot be read.`,
		Example: `  bailiff report verify cis.json --public-key report.key.pub
  bailiff report verify cis.pdf --public-key report.key.pub   # reads cis.pdf.sig`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			data, err := os.ReadFile(file)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("read report: %w", err)}
			}
			var trusted ed25519.PublicKey
			if publicKey != "" {
				if trusted, err = reports.LoadPublicKey(publicKey); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
			}
			var v reports.Verification
			if sigFile == "" && isJSONReport(data) {
				_, v, err = reports.VerifyJSON(data, trusted)
			} else {
				if sigFile == "" {
					sigFile = file + ".sig"
				}
				sig, rerr := os.ReadFile(sigFile)
				if rerr != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("%s is not a signed JSON report, and its detached signature cannot be read: %w", file, rerr)}
				}
				v, err = reports.VerifyDetached(data, sig, trusted)
			}
			if err != nil {
				if errors.Is(err, reports.ErrBadSignature) {
					return &exitError{code: exitDenied, err: fmt.Errorf("%s: %w", file, err)}
				}
				return &exitError{code: exitUsage, err: err}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: signature OK: report %s (%s), key %s\n", file, v.ReportID, v.Format, v.KeyID)
			if v.Trusted {
				fmt.Fprintln(out, "signed with the key given by --public-key")
			} else {
				fmt.Fprintln(out, "checked against the key the file carries: this proves the file unchanged, not who signed it; pass --public-key with the server's public key")
			}
			for _, c := range v.BrokenTrails {
				fmt.Fprintf(out, "note: the report marks the trail of %s as BROKEN\n", c)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&publicKey, "public-key", "", "the signer's public key (PEM, as KEY.pub); without it the key in the file is used")
	cmd.Flags().StringVar(&sigFile, "signature", "", "detached signature of a CSV, HTML or PDF report (default FILE.sig)")
	return cmd
}

// isJSONReport says whether data looks like a JSON report rather than a rendering.
func isJSONReport(data []byte) bool {
	t := bytes.TrimSpace(data)
	return len(t) > 0 && t[0] == '{' && bytes.Contains(t[:min(len(t), 200)], []byte(`"schema"`))
}
