package testenv

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// chromiumPaths are where Debian's chromium package puts the browser: the
// real binary first (the /usr/bin/chromium wrapper is a shell script that
// adds flags of its own).
var chromiumPaths = []string{"/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"}

// ChromiumPath finds Chromium, or returns "".
func ChromiumPath() string {
	if p := os.Getenv("BARBOSSA_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range chromiumPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := lookTool("chromium"); err == nil {
		return p
	}
	return ""
}

// chromiumFlags start a headless Chromium that talks to nothing but the
// pages it is sent to: this machine's network is closed, and a browser
// that tries its update, sync and field-trial servers retries them, slowly.
func chromiumFlags(profile string, width, height int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox, // as root, the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(profile),
	}
}

// StartChromium starts a headless Chromium with a fresh profile and returns
// a context for chromedp.Run: one browser tab, closed with the browser
// when the test ends. Without Chromium the test is skipped (under CI it
// fails; scripts/test-deps.sh installs Debian's chromium).
//
//	ctx := testenv.StartChromium(t, 1280, 900)
//	err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.WaitVisible("#cards"))
func StartChromium(t testing.TB, width, height int) context.Context {
	t.Helper()
	path := ChromiumPath()
	if path == "" {
		missing(t, "chromium", "apt-get install chromium, or "+installHint)
		return nil
	}
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(path)}, chromiumFlags(t.TempDir(), width, height)...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// Start the browser now, so a broken install fails here, naming it.
	// (No timeout: the context of the first run is the browser's life.)
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("testenv: starting %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to exit and removes nothing of ours: the profile is t.TempDir
	})
	return ctx
}
