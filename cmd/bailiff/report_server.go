package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/reports"
	"github.com/bailiff/bailiff/server"
)

// maxReportDownload bounds a downloaded report (a fleet's JSON can be large).
const maxReportDownload = 1 << 30

// reportDownload is `bailiff report --server URL ...`: the server makes (or has made)
// the report and this writes it, with its detached signature and the server's public
// key beside it, ready for `bailiff report verify`.
type reportDownload struct {
	serverURL, tokenFile, caFile string
	cluster                      string
	fleet                        bool
	framework, format, outFile   string
	id, from, to                 string
}

func (d *reportDownload) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&d.serverURL, "server", "", "the Bailiff server that makes and keeps reports, e.g. https://bailiff.example.com")
	f.StringVar(&d.tokenFile, "token-file", "", "file holding an auditor's token, for --server")
	f.StringVar(&d.caFile, "ca-file", "", "PEM file of the CA that signed the server's certificate, if not a public one")
	f.StringVar(&d.cluster, "cluster", "", "the cluster to report on")
	f.BoolVar(&d.fleet, "fleet", false, "report on every cluster")
	f.StringVar(&d.framework, "framework", compliance.All, "the framework: cis, nsa, pss, gdpr or all")
	f.StringVar(&d.format, "format", reports.FormatJSON, "json (signed), csv, html or pdf")
	f.StringVarP(&d.outFile, "output", "o", "", "the file to write (required); csv, html and pdf get FILE.sig beside it")
	f.StringVar(&d.id, "id", "", "download this kept report instead of making a new one")
	f.StringVar(&d.from, "from", "", "start of the period (RFC 3339 or a date; default: the start of the trail)")
	f.StringVar(&d.to, "at", "", "the snapshot time and end of the period (RFC 3339 or a date; default: now)")
}

func (d *reportDownload) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	usage := func(err error) error { return &exitError{code: exitUsage, err: err} }
	switch {
	case d.serverURL == "":
		return usage(errors.New("name the server with --server (or use 'bailiff report generate' to make a report from a store)"))
	case d.tokenFile == "":
		return usage(errors.New("--server needs --token-file with an auditor's token"))
	case d.outFile == "":
		return usage(errors.New("name the file to write with -o"))
	case !slices.Contains(reports.Formats, d.format):
		return usage(fmt.Errorf("unknown format %q: use one of %s", d.format, strings.Join(reports.Formats, ", ")))
	case d.id == "" && d.fleet == (d.cluster != ""):
		return usage(errors.New("name one cluster with --cluster, or ask for every cluster with --fleet"))
	}
	token, err := readToken(d.tokenFile)
	if err != nil {
		return usage(err)
	}
	hc, err := httpClient(d.caFile)
	if err != nil {
		return usage(err)
	}
	client, err := trail.NewClient(d.serverURL, token, hc)
	if err != nil {
		return usage(err)
	}
	id := d.id
	if id == "" {
		body, _ := json.Marshal(server.ReportRequest{Cluster: d.cluster, Fleet: d.fleet, Framework: d.framework, From: d.from, To: d.to})
		var rec store.ReportRecord
		if err := client.Do(ctx, http.MethodPost, server.ReportsPath, nil, body, &rec); err != nil {
			var status *trail.StatusError
			if errors.As(err, &status) && (status.StatusCode == http.StatusNotFound || status.StatusCode == http.StatusBadRequest) {
				return usage(err)
			}
			return err
		}
		id = rec.ID
		fmt.Fprintf(cmd.OutOrStdout(), "report %s made by %s\n", id, d.serverURL)
	}
	path := server.ReportsPath + "/" + url.PathEscape(id)
	q := url.Values{"format": {d.format}}
	doc, err := client.Download(ctx, path, q, maxReportDownload)
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.outFile, doc, 0o644); err != nil {
		return usage(fmt.Errorf("write report: %w", err))
	}
	written := []string{d.outFile}
	if d.format != reports.FormatJSON {
		sig, err := client.Download(ctx, path+"/signature", q, 1<<20)
		if err != nil {
			return err
		}
		if err := os.WriteFile(d.outFile+".sig", sig, 0o644); err != nil {
			return usage(fmt.Errorf("write signature: %w", err))
		}
		written = append(written, d.outFile+".sig")
	}
	key, err := client.Download(ctx, server.ReportsPath+"/public-key", nil, 1<<16)
	if err != nil {
		return err
	}
	keyFile := d.outFile + ".pub"
	if err := os.WriteFile(keyFile, key, 0o644); err != nil {
		return usage(fmt.Errorf("write the server's public key: %w", err))
	}
	written = append(written, keyFile)
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\ncheck it with: bailiff report verify %s --public-key %s\n", strings.Join(written, ", "), d.outFile, keyFile)
	return nil
}
