package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/reports"
)

// chromium starts headless Chromium (Debian's package; make test installs it) and
// returns a browser context, closed when the test ends.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed, so the pages cannot be checked in a browser: run make test-packages (or apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("ignore-certificate-errors", true), // httptest's own certificate
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// screenshot saves the page as PNG under dir and checks that it shows something: a
// blank page is one colour.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	colours := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>12<<8|g>>12<<4|bl>>12] = true
		}
	}
	if len(colours) < 8 {
		t.Errorf("screenshot %s shows almost nothing: %d colours", name, len(colours))
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitForDownload waits for a finished download with the suffix in dir and returns it.
func waitForDownload(t *testing.T, dir, suffix string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), suffix) {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err == nil && len(b) > 0 {
					return b
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s file was downloaded into %s", suffix, dir)
	return nil
}

// TestPagesInABrowser signs in as an auditor would, in headless Chromium, and walks
// from the fleet to a cluster, a policy's findings, an object's trail events, the
// cluster's latest compliance report (downloading its PDF and checking its signature,
// then following its evidence) and the trail's verification, checking what each page shows and keeping screenshots
// ($BAILIFF_SCREENSHOTS, or a temporary directory).
func TestPagesInABrowser(t *testing.T) {
	keeper := testKeeper(t)
	ts := newTestServer(t, Options{Reports: keeper})
	seedUI(t, ts)
	rec, _, err := keeper.Create(context.Background(), ts.store, reports.Request{Cluster: "prod", Framework: compliance.All})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keeper.Create(context.Background(), ts.store, reports.Request{Fleet: true, Framework: compliance.All}); err != nil {
		t.Fatal(err)
	}
	ctx := chromium(t)
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
	}); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("BAILIFF_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	must := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	location := func() string {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	must("open the fleet page", chromedp.Navigate(ts.URL+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	if l := location(); !strings.Contains(l, "/ui/login") {
		t.Fatalf("not signed in, the fleet page went to %s, want the sign-in page", l)
	}
	must("sign in with a wrong token",
		chromedp.SendKeys(chromedp.ID("token"), "blf_not-a-token"), chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("problem")))
	if p := text("#problem"); !strings.Contains(p, "not valid") {
		t.Errorf("a wrong token says %q", p)
	}
	screenshot(t, ctx, shots, "1-sign-in-refused")

	must("sign in as the auditor",
		chromedp.SetValue(chromedp.ID("token"), ts.tokens["auditor"]), chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("clusters")))
	if fleet := text("#clusters"); !strings.Contains(fleet, "prod") {
		t.Errorf("the fleet table lacks cluster prod: %q", fleet)
	}
	if scores := text("#scores"); !strings.Contains(scores, "prod") || !strings.Contains(scores, "Fleet") || !strings.Contains(scores, "%") {
		t.Errorf("the fleet's compliance table: %q", scores)
	}
	screenshot(t, ctx, shots, "2-fleet")

	must("open cluster prod", chromedp.Click(chromedp.CSS(`a.cluster[href="/ui/clusters/prod"]`)), chromedp.WaitVisible(chromedp.ID("policies")))
	if policies := text("#policies"); !strings.Contains(policies, "BLF-IMG-001") || !strings.Contains(policies, "BLF-RES-001") {
		t.Errorf("the cluster's findings by policy: %q", policies)
	}
	if n := text("#open-findings"); strings.TrimSpace(n) != "2" {
		t.Errorf("open findings %q, want 2", n)
	}
	screenshot(t, ctx, shots, "3-cluster")

	must("drill down to BLF-IMG-001", chromedp.Click(chromedp.CSS(`a.policy[href$="/BLF-IMG-001"]`)), chromedp.WaitVisible(chromedp.ID("findings")))
	if f := text("#findings"); !strings.Contains(f, "Deployment shop/web") || !strings.Contains(f, "not from an allowed registry") {
		t.Errorf("the policy's findings: %q", f)
	}
	must("open the object", chromedp.Click(chromedp.CSS(`a.object`)), chromedp.WaitVisible(chromedp.ID("events")))
	if ev := text("#events"); !strings.Contains(ev, "audit") || !strings.Contains(ev, "opened") || !strings.Contains(ev, "BLF-IMG-001") {
		t.Errorf("the object's trail events: %q", ev)
	}
	screenshot(t, ctx, shots, "4-object")

	must("open the cluster's latest report", chromedp.Navigate(ts.URL+"/ui/clusters/prod"), chromedp.WaitVisible(chromedp.ID("compliance")),
		chromedp.Click(chromedp.ID("latest-report")), chromedp.WaitVisible(chromedp.ID("summary")))
	if summary := text("#summary"); !strings.Contains(summary, "cis") || !strings.Contains(summary, "gdpr") {
		t.Errorf("the report's summary: %q", summary)
	}
	screenshot(t, ctx, shots, "5-report")
	must("download the PDF", chromedp.Click(chromedp.CSS(`a.download[href$="format=pdf"]`)))
	pdf := waitForDownload(t, downloads, ".pdf")
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Errorf("the download is not a PDF")
	}
	_, sig := ts.call(t, "GET", ReportsPath+"/"+rec.ID+"/signature?format=pdf", ts.tokens["auditor"], nil)
	if _, err := reports.VerifyDetached(pdf, sig, keeper.Key.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("the downloaded PDF does not verify against its signature: %v", err)
	}
	// The HTML rendering is a file of its own: downloaded, then opened from disk, it must
	// show the report with nothing fetched from elsewhere.
	must("download the HTML", chromedp.Click(chromedp.CSS(`a.download[href$="format=html"]`)))
	page := waitForDownload(t, downloads, ".html")
	htmlFile := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(htmlFile, page, 0o644); err != nil {
		t.Fatal(err)
	}
	must("open the HTML report from disk", chromedp.Navigate("file://"+htmlFile), chromedp.WaitVisible(chromedp.ID("summary")))
	if cover := text("#cover"); !strings.Contains(cover, "prod") || !strings.Contains(cover, rec.ID) {
		t.Errorf("the HTML report's cover: %q", cover)
	}
	screenshot(t, ctx, shots, "6-html-report")
	must("back to the report page", chromedp.Navigate(ts.URL+"/ui/reports/"+rec.ID), chromedp.WaitVisible(chromedp.ID("summary")))
	must("follow evidence to its object", chromedp.Click(chromedp.CSS(`a.evidence`)), chromedp.WaitVisible(chromedp.ID("events")))

	must("verify the trail", chromedp.Navigate(ts.URL+"/ui/clusters/prod/verify"), chromedp.WaitVisible(chromedp.ID("verdict")))
	if v := text("#verdict"); !strings.Contains(v, "Intact") {
		t.Errorf("verification says %q", v)
	}

	must("sign out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("token")))
	must("come back", chromedp.Navigate(ts.URL+"/ui/clusters/prod"), chromedp.WaitVisible(chromedp.ID("token")))
	if l := location(); !strings.Contains(l, "/ui/login") {
		t.Errorf("after signing out, a cluster page went to %s", l)
	}
	t.Logf("screenshots in %s", shots)
}
