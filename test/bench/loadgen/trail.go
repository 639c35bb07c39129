package main

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// benchCluster is the cluster name the trail comparison records under.
const benchCluster = "bench"

// compareTrail runs the webhook twice on this machine, one after the other, at the
// same rate over the same corpus: without the audit trail, then with it delivering to
// a local bailiff server (SQLite) that shares the machine. It prints both runs, and
// what became of the events: emitted, dropped, stored by the server, and how long the
// server took to have them all once the load ended.
func compareTrail(bailiff, configFile string, rate int, duration time.Duration, size int, trailFlags []string) error {
	reviews, err := buildCorpus(size)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bailiff-bench-trail-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	adminToken := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(adminToken, []byte(base64.RawURLEncoding.EncodeToString(secret)), 0o600); err != nil {
		return err
	}
	storeDSN := "sqlite://" + filepath.Join(dir, "bailiff.db")
	serverAddr, err := freeAddr()
	if err != nil {
		return err
	}
	serverURL := "http://" + serverAddr
	server, err := startProcess(filepath.Join(dir, "server.log"), bailiff, "server", "--addr", serverAddr, "--insecure-http",
		"--store", storeDSN, "--admin-token-file", adminToken, "--log-format", "text", "--pprof-addr", "127.0.0.1:6061")
	if err != nil {
		return err
	}
	defer server.stop()
	if err := waitReady(http.DefaultClient, serverURL+"/readyz", server); err != nil {
		return err
	}
	out, err := exec.Command(bailiff, "server", "token", "create", "--name", "bench", "--role", "cluster",
		"--cluster", benchCluster, "--store", storeDSN).Output()
	if err != nil {
		return fmt.Errorf("create the cluster token: %w", err)
	}
	clusterToken := filepath.Join(dir, "cluster.token")
	if err := os.WriteFile(clusterToken, out, 0o600); err != nil {
		return err
	}

	fmt.Printf("webhook at %d requests/s for %s each, without and with the audit trail (bailiff server, SQLite, same machine), in %d alternating rounds\n",
		rate, duration, trailRounds)
	off, err := startWebhook(bailiff, configFile, filepath.Join(dir, "off"), nil)
	if err != nil {
		return fmt.Errorf("trail off: %w", err)
	}
	defer off.proc.stop()
	on, err := startWebhook(bailiff, configFile, filepath.Join(dir, "on"), append([]string{"--trail-server", serverURL,
		"--trail-token-file", clusterToken, "--trail-queue-dir", filepath.Join(dir, "queue"), "--cluster", benchCluster}, trailFlags...))
	if err != nil {
		return fmt.Errorf("trail on: %w", err)
	}
	defer on.proc.stop()
	for _, w := range []*webhookUnderLoad{off, on} {
		if w.sender, err = newSender(w.base+"/validate", w.tlsConfig, reviews); err != nil {
			return err
		}
		defer w.sender.close()
		if warm := drive(w.sender, 200, 2*time.Second); warm.errors > 0 {
			return fmt.Errorf("warm-up: %d of %d requests failed: %s", warm.errors, warm.sent, warm.firstError)
		}
	}
	// Alternating keeps whatever else the machine does from favouring one side.
	var offRes, onRes result
	var offCPU, onCPU cpuUse
	for range trailRounds {
		offRes = offRes.add(measure(off, server, &offCPU, reviews, rate, duration/trailRounds))
		onRes = onRes.add(measure(on, server, &onCPU, reviews, rate, duration/trailRounds))
	}
	fmt.Printf("trail off: %s\n", offRes)
	fmt.Printf("  webhook peak RSS: %s; %s\n", peakRSS(off.proc.cmd.Process.Pid), offCPU.per(offRes.sent))
	fmt.Printf("trail on:  %s\n", onRes)
	fmt.Printf("  webhook peak RSS: %s; %s\n", peakRSS(on.proc.cmd.Process.Pid), onCPU.per(onRes.sent))
	return reportDelivery(on.client, on.base+"/metrics", serverURL+"/metrics", on.proc)
}

// cpuUse is CPU time spent by the webhook driven and by the server while it was.
type cpuUse struct{ webhook, server time.Duration }

func (c cpuUse) per(requests int64) string {
	if requests == 0 {
		return "no requests"
	}
	return fmt.Sprintf("CPU per request: webhook %s, bailiff server %s",
		(c.webhook / time.Duration(requests)).Round(time.Microsecond), (c.server / time.Duration(requests)).Round(time.Microsecond))
}

// measure drives w for one round and adds the CPU the webhook and the server used.
func measure(w *webhookUnderLoad, server *process, use *cpuUse, reviews [][]byte, rate int, d time.Duration) result {
	w0, s0 := cpuTime(w.proc.cmd.Process.Pid), cpuTime(server.cmd.Process.Pid)
	res := drive(w.sender, rate, d)
	use.webhook += cpuTime(w.proc.cmd.Process.Pid) - w0
	use.server += cpuTime(server.cmd.Process.Pid) - s0
	return res
}

// cpuTime is the user and system CPU time a process has used, from /proc (Linux,
// whose clock tick is 100 Hz on every platform Go supports).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after the last ')'.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// trailRounds is how many alternating rounds compareTrail splits each side's run into.
const trailRounds = 6

// add merges another run's measurements into r.
func (r result) add(o result) result {
	r.latencies = append(r.latencies, o.latencies...)
	r.sent += o.sent
	r.errors += o.errors
	r.elapsed += o.elapsed
	if r.firstError == "" {
		r.firstError = o.firstError
	}
	return r
}

// webhookUnderLoad is a running webhook and a client that trusts it.
type webhookUnderLoad struct {
	proc      *process
	client    *http.Client // for readiness and metrics
	tlsConfig *tls.Config
	sender    *sender // for the load
	base      string
}

// startWebhook starts a webhook on a free loopback port and waits until it is ready.
func startWebhook(bailiff, configFile, dir string, extra []string) (*webhookUnderLoad, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"webhook", "--no-cluster", "--tls-self-signed", "--cert-dir", certDir, "--addr", addr,
		"--config", configFile, "--log-format", "text"}, extra...)
	p, err := startProcess(filepath.Join(dir, "webhook.log"), bailiff, args...)
	if err != nil {
		return nil, err
	}
	for range 100 {
		if _, err := os.Stat(filepath.Join(certDir, "ca.crt")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	w := &webhookUnderLoad{proc: p, base: "https://" + addr}
	if w.tlsConfig, err = trusting(filepath.Join(certDir, "ca.crt")); err == nil {
		w.client, err = newClient(filepath.Join(certDir, "ca.crt"))
	}
	if err == nil {
		err = waitReady(w.client, w.base+"/readyz", p)
	}
	if err != nil {
		p.stop()
		return nil, err
	}
	return w, nil
}

// reportDelivery waits until the server has stored every event the webhook emitted,
// and prints the counts.
func reportDelivery(client *http.Client, webhookMetrics, serverMetrics string, w *process) error {
	ended := time.Now()
	var m, s map[string]float64
	for {
		var err error
		if m, err = scrape(client, webhookMetrics); err != nil {
			return err
		}
		if s, err = scrape(http.DefaultClient, serverMetrics); err != nil {
			return err
		}
		if s[`bailiff_server_ingested_events_total{result="stored"}`] >= m["bailiff_trail_events_emitted_total"]-m["bailiff_trail_events_dropped_total"] {
			break
		}
		if time.Since(ended) > 2*time.Minute {
			fmt.Printf("  trail: the server had not stored every event two minutes after the load ended\n")
			break
		}
		if !w.running() {
			return fmt.Errorf("the webhook exited; see %s", w.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var drops []string
	for series, v := range m {
		if v > 0 && (strings.HasPrefix(series, "bailiff_trail_events_dropped_total{") || strings.HasPrefix(series, "bailiff_admission_audit_dropped_total{")) {
			drops = append(drops, fmt.Sprintf("%s %.0f", series, v))
		}
	}
	if len(drops) == 0 {
		drops = []string{"none"}
	}
	fmt.Printf("  trail: %.0f events emitted (the warm-up and the policy set loaded included), %.0f stored by the server, all stored %s after the load ended; dropped: %s\n",
		m["bailiff_trail_events_emitted_total"], s[`bailiff_server_ingested_events_total{result="stored"}`],
		time.Since(ended).Round(100*time.Millisecond), strings.Join(drops, ", "))
	return nil
}

// scrape reads a Prometheus text page: each metric name (with its labels, as
// written) summed, and each bare name summed over its labels.
func scrape(client *http.Client, url string) (map[string]float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		out[series] += v
		if name, _, found := strings.Cut(series, "{"); found {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// process is a bailiff process this load generator started.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProcess(logFile, bin string, args ...string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &process{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop interrupts the process and waits for it, killing it if it lingers.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady polls a readiness URL until it answers 200.
func waitReady(client *http.Client, url string, p *process) error {
	for range 300 {
		if !p.running() {
			b, _ := os.ReadFile(p.log)
			return fmt.Errorf("%s exited:\n%s", filepath.Base(p.cmd.Path), b)
		}
		if resp, err := client.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s never became ready; see %s", url, p.log)
}

// freeAddr is a loopback address with a port free now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
