package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/config"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/server"
	"github.com/bailiff/bailiff/test/kube"
)

// process is one Bailiff command the demo runs, logging to a file in the demo dir.
type process struct {
	cmd *exec.Cmd
	log string
}

func start(dir, name, bin string, args ...string) (*process, error) {
	log := filepath.Join(dir, name+".log")
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start bailiff %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); f.Close() }()
	return &process{cmd: cmd, log: log}, nil
}

// stop interrupts the process and waits for it, as a pod's termination would.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	for range 200 {
		if p.cmd.ProcessState != nil || p.cmd.Process.Signal(nil) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = p.cmd.Process.Kill()
}

// demoServer is the central bailiff server with the demo's two tokens.
type demoServer struct {
	*process
	url, caFile                string
	clusterToken, auditorToken string // files
	client                     *trail.Client
}

// startServer starts a fresh bailiff server on an SQLite store in the demo dir, with a
// cluster token for the webhook and the auditor and an auditor token for people,
// created with the CLI as an operator would.
func startServer(ctx context.Context, o options, cluster string) (*demoServer, error) {
	dbPath := filepath.Join(o.dir, "bailiff.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	dsn := "sqlite://" + dbPath
	s := &demoServer{}
	for _, t := range []struct {
		file                *string
		name, role, cluster string
	}{
		{&s.clusterToken, cluster, store.RoleCluster, cluster},
		{&s.auditorToken, "demo-auditor", store.RoleAuditor, ""},
	} {
		args := []string{"server", "token", "create", "--store", dsn, "--name", t.name, "--role", t.role}
		if t.cluster != "" {
			args = append(args, "--cluster", t.cluster)
		}
		out, err := exec.Command(o.bailiff, args...).Output()
		if err != nil {
			return nil, fmt.Errorf("bailiff %s: %w", strings.Join(args, " "), err)
		}
		*t.file = filepath.Join(o.dir, t.name+".token")
		if err := os.WriteFile(*t.file, out, 0o600); err != nil {
			return nil, err
		}
	}
	port, err := kube.FreePort()
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(o.dir, "server-certs")
	if err := os.RemoveAll(certDir); err != nil {
		return nil, err
	}
	s.process, err = start(o.dir, "server", o.bailiff, "server", "--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--cert-dir", certDir, "--tls-self-signed", "--store", dsn, "--log-format", "text")
	if err != nil {
		return nil, err
	}
	s.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	s.caFile = filepath.Join(certDir, "ca.crt")
	var hc *http.Client
	err = kube.WaitFor(ctx, "bailiff server to be ready", func() bool {
		if hc == nil {
			if hc, err = clientFor(s.caFile); err != nil {
				return false
			}
		}
		resp, err := hc.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("%w (see %s)", err, s.log)
	}
	token, err := os.ReadFile(s.auditorToken)
	if err != nil {
		return nil, err
	}
	if s.client, err = trail.NewClient(s.url, strings.TrimSpace(string(token)), hc); err != nil {
		return nil, err
	}
	return s, nil
}

func clientFor(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
	}}, nil
}

// trailReport waits for the cluster's trail to settle, then writes what it holds, the
// auditor's open findings and the trail's verification, as an auditor would ask.
func trailReport(ctx context.Context, w io.Writer, s *demoServer, cluster string, preexisting map[string]bool) error {
	var events []store.Event
	last, stable := -1, 0
	err := kube.WaitFor(ctx, "the trail to settle", func() bool {
		var err error
		if events, err = allEvents(ctx, s.client, cluster); err != nil {
			return false
		}
		if len(events) == last {
			stable++
		} else {
			last, stable = len(events), 0
		}
		return stable >= 3
	})
	if err != nil {
		return err
	}
	bySource := map[string]int{}
	for _, e := range events {
		bySource[e.Source+" "+e.Decision]++
	}
	keys := make([]string, 0, len(bySource))
	for k := range bySource {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintf(w, "Cluster %s's trail: %d events\n", cluster, len(events))
	for _, k := range keys {
		fmt.Fprintf(w, "  %-22s %d\n", k, bySource[k])
	}
	var page server.FindingPage
	q := url.Values{"cluster": {cluster}, "state": {"open"}, "limit": {"1000"}}
	if err := s.client.Do(ctx, http.MethodGet, "/api/v1/findings", q, nil, &page); err != nil {
		return fmt.Errorf("read findings: %w", err)
	}
	writeFindings(w, page.Findings, preexisting)
	res, err := s.client.Verify(ctx, cluster, trail.Range{})
	if err != nil {
		return fmt.Errorf("verify the trail: %w", err)
	}
	fmt.Fprintf(w, "Trail verification: %s\n", res.String())
	return nil
}

// writeFindings lists open findings a line per object, worst severity first, marking
// the objects from before Bailiff (keyed by objectName).
func writeFindings(w io.Writer, findings []store.Finding, preexisting map[string]bool) {
	type object struct {
		name     string
		worst    int
		policies map[string]int
	}
	rank := map[string]int{"critical": 4, "high": 3, "medium": 2, "low": 1}
	byName := map[string]*object{}
	for _, f := range findings {
		name := objectName(f.Kind, f.Namespace, f.Name)
		o := byName[name]
		if o == nil {
			o = &object{name: name, policies: map[string]int{}}
			byName[name] = o
		}
		o.worst = max(o.worst, rank[f.Severity])
		o.policies[f.PolicyID]++
	}
	objects := make([]*object, 0, len(byName))
	for _, o := range byName {
		objects = append(objects, o)
	}
	slices.SortFunc(objects, func(a, b *object) int {
		if a.worst != b.worst {
			return b.worst - a.worst
		}
		return strings.Compare(a.name, b.name)
	})
	fmt.Fprintf(w, "Open findings: %d on %d objects (* = in the cluster before Bailiff, so the webhook never saw it)\n", len(findings), len(objects))
	severity := []string{"", "low", "medium", "high", "critical"}
	for _, o := range objects {
		mark := " "
		if preexisting[o.name] {
			mark = "*"
		}
		var ids []string
		for id, n := range o.policies {
			if n > 1 {
				id = fmt.Sprintf("%s×%d", id, n)
			}
			ids = append(ids, id)
		}
		slices.Sort(ids)
		fmt.Fprintf(w, " %s %-9s %-40s %s\n", mark, severity[o.worst], o.name, strings.Join(ids, " "))
	}
}

// objectName is "Kind namespace/name", or "Kind name" for cluster-scoped objects.
func objectName(kind, namespace, name string) string {
	if namespace == "" {
		return kind + " " + name
	}
	return kind + " " + namespace + "/" + name
}

// allEvents pages through a cluster's whole trail.
func allEvents(ctx context.Context, c *trail.Client, cluster string) ([]store.Event, error) {
	var out []store.Event
	q := url.Values{"cluster": {cluster}, "limit": {"1000"}}
	for {
		var page server.EventPage
		if err := c.Do(ctx, http.MethodGet, trail.EventsPath, q, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Events...)
		if page.Next == "" {
			return out, nil
		}
		q.Set("cursor", page.Next)
	}
}

// defaultClusterName names the cluster when the configuration does not.
const defaultClusterName = "demo"

// clusterName is cluster.name of the configuration, as the webhook and the auditor
// read it; "" when it has none.
func clusterName(configFile string) (string, error) {
	cfg, err := config.Load(configFile)
	if err != nil {
		return "", err
	}
	return cfg.Cluster.Name, nil
}

// complianceReports asks the server for a report of the cluster (every framework), as
// an auditor would, then downloads it with bailiff report --server as PDF and HTML (with
// detached signatures and the server's public key) and checks each with bailiff report
// verify.
func complianceReports(ctx context.Context, w io.Writer, o options, s *demoServer, cluster string) error {
	dir := filepath.Join(o.dir, "reports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	body, _ := json.Marshal(server.ReportRequest{Cluster: cluster, Framework: "all"})
	var rec store.ReportRecord
	if err := s.client.Do(ctx, http.MethodPost, server.ReportsPath, nil, body, &rec); err != nil {
		return fmt.Errorf("make the report: %w", err)
	}
	var summary []struct {
		Framework string   `json:"framework"`
		Score     *float64 `json:"score"`
	}
	if err := json.Unmarshal(rec.Summary, &summary); err != nil {
		return fmt.Errorf("read the report's summary: %w", err)
	}
	fmt.Fprintf(w, "Report %s, trail verified: %v\n", rec.ID, rec.TrailOK)
	for _, f := range summary {
		score := "n/a"
		if f.Score != nil {
			score = fmt.Sprintf("%.1f%%", *f.Score)
		}
		fmt.Fprintf(w, "  %-5s %s\n", f.Framework, score)
	}
	for _, format := range []string{"pdf", "html"} {
		file := filepath.Join(dir, cluster+"."+format)
		args := []string{"report", "--server", s.url, "--token-file", s.auditorToken, "--ca-file", s.caFile,
			"--id", rec.ID, "--format", format, "-o", file}
		if out, err := exec.CommandContext(ctx, o.bailiff, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("bailiff %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		if out, err := exec.CommandContext(ctx, o.bailiff, "report", "verify", file, "--public-key", file+".pub").CombinedOutput(); err != nil {
			return fmt.Errorf("bailiff report verify %s: %w\n%s", file, err, out)
		}
		fmt.Fprintf(w, "%-4s %s (signature in %s.sig, checked with bailiff report verify --public-key %s.pub)\n",
			strings.ToUpper(format), file, filepath.Base(file), filepath.Base(file))
	}
	return nil
}
