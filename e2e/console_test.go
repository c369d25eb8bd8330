package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
)

// chromium is Debian's chromium package's binary, which .ci/ensure-chromium.sh
// installs (make deps).
const chromium = "/usr/bin/chromium"

// browser starts a headless Chromium for the test; it is stopped when the
// test ends. Without Chromium the test skips, saying how to install it, or
// fails under CI=true, where the project's scripts must have installed it.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		msg := fmt.Sprintf("Chromium is not installed (%v): run `make deps` or, as root, .ci/ensure-chromium.sh (Debian's chromium package)", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true requires it")
		}
		t.Skip(msg)
	}
	profile, err := os.MkdirTemp("", "refersion-relay-chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) }) // Chromium may still be writing its profile
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 1100),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts it, on a context without a time limit
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return ctx
}

// do runs browser actions with a time limit, failing the test on error.
func do(t *testing.T, ctx context.Context, what string, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one browser action that returns a value, with a time limit.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitJS polls a JavaScript boolean expression in the page until it holds.
func waitJS(t *testing.T, ctx context.Context, what, expr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if get(t, ctx, what, chromedp.Evaluate[bool](expr)) {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("timed out after %v waiting for %s; the page's main:\n%.4000s", limit, what, html)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The console in a real browser: a relay fed by the broker and the sandbox,
// its outcomes arriving live on the page, an order found by id, a dead
// letter opened with Refersion's answer, and replayed: refused without the
// token, dry-run then delivered with it. The page is saved as a screenshot
// (ArtifactDir; also to $CONSOLE_SCREENSHOT when set).
func TestConsoleInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary and a headless Chromium")
	}
	ctx := browser(t)
	const token = "console-test-token-0123456789"
	w := harness.StartWorld(t, harness.Options{Partitions: 4, MaxMessageBytes: 4 << 20, Sandbox: sandbox.Options{Keys: sandbox.DefaultKeys}})
	// The first order's answer is a 200 carrying an error: rejected for good,
	// so dead-lettered with Refersion's answer; replayed later, it goes through.
	w.Sandbox.Inject(sandbox.ErrorBody)
	r := start(t, w, "LOG_LEVEL=info", "ADMIN_TOKEN="+token)
	base := "http://" + adminAddr(t, r) + "/"

	// The page loads before anything is produced: every outcome it shows
	// later came over the live stream.
	do(t, ctx, "loading the console", 10*time.Second,
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS(`#no-outcomes`)),
		chromedp.WaitVisible(chromedp.CSS(`#live.on`)),
	)
	if err := w.Produce(2000, 3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every other order accepted and the topic committed", func() bool {
		return len(accepted(t, w)) == len(w.Valid)-1 && w.Lag() == 0
	}, r)
	delivered := len(accepted(t, w))
	waitJS(t, ctx, fmt.Sprintf("%d delivered rows arriving live", delivered),
		fmt.Sprintf(`document.querySelectorAll('#outcomes tbody tr.o-ok[data-seq]').length === %d && !document.querySelector('#no-outcomes')`, delivered),
		10*time.Second)

	// Find an order by id.
	dls, err := w.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var rejected string
	for _, d := range dls {
		if d.Reason == deadletter.ReasonRejected {
			rejected = d.OrderID
		}
	}
	if rejected == "" {
		t.Fatalf("no rejected dead letter among %d", len(dls))
	}
	var some string
	for id := range accepted(t, w) {
		some = id
		break
	}
	do(t, ctx, "searching for order "+some, 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#order-id`), some),
		chromedp.Submit(chromedp.CSS(`#order-id`)),
		chromedp.WaitVisible(chromedp.CSS(`#search-results`)),
	)
	found := get(t, ctx, "the search results", chromedp.Text(chromedp.CSS(`#search-results`)))
	if !strings.Contains(found, some) || !strings.Contains(found, "delivered") {
		t.Errorf("search for %s shows:\n%s", some, found)
	}

	// Open the rejected order's dead letter: its problems and Refersion's answer.
	sel := `.dl[data-reason="rejected"]`
	do(t, ctx, "opening the dead letter", 10*time.Second,
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Click(chromedp.CSS(sel+` summary`)),
		chromedp.WaitVisible(chromedp.CSS(sel+` .dl-answer`)),
	)
	answer := get(t, ctx, "Refersion's answer", chromedp.Text(chromedp.CSS(sel+` .dl-answer`)))
	if !strings.Contains(answer, "sandbox fault") {
		t.Errorf("Refersion's answer on the page: %q", answer)
	}

	// Replay it: refused without the token.
	do(t, ctx, "a dry run without the token", 10*time.Second,
		chromedp.Click(chromedp.CSS(sel+` .dl-select`)),
		chromedp.Click(chromedp.CSS(`#dry-run`)),
	)
	waitJS(t, ctx, "the refusal", `(document.querySelector('#replay-result').textContent || '').startsWith('401')`, 10*time.Second)
	if !get(t, ctx, "reading the replay button", chromedp.Evaluate[bool](`document.querySelector('#replay-go').disabled`)) {
		t.Error("the replay button is enabled after a refused dry run")
	}
	if accepted(t, w)[rejected] != 0 {
		t.Fatalf("order %s reached the sandbox without the token", rejected)
	}

	// With the token: a dry run, then the replay.
	do(t, ctx, "a dry run with the token", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#token`), token),
		chromedp.Click(chromedp.CSS(`#dry-run`)),
	)
	waitJS(t, ctx, "the dry run", `(document.querySelector('#replay-result').textContent || '').includes('would send 1,')`, 20*time.Second)
	if accepted(t, w)[rejected] != 0 {
		t.Fatalf("order %s reached the sandbox on a dry run", rejected)
	}
	do(t, ctx, "replaying", 10*time.Second, chromedp.Click(chromedp.CSS(`#replay-go`)))
	waitJS(t, ctx, "the replay", `(document.querySelector('#replay-result').textContent || '').includes('delivered 1,')`, 20*time.Second)
	if n := accepted(t, w)[rejected]; n != 1 {
		t.Errorf("order %s accepted %d times after the replay, want 1", rejected, n)
	}
	// The replay is in the journal, and so on the page, live.
	waitJS(t, ctx, "the replay's row", fmt.Sprintf(`!!document.querySelector('#outcomes tr.o-warn[data-order-id=%q]')`, rejected), 10*time.Second)

	png := get(t, ctx, "the screenshot", chromedp.FullScreenshot(100))
	for _, path := range []string{filepath.Join(t.ArtifactDir(), "console.png"), os.Getenv("CONSOLE_SCREENSHOT")} {
		if path == "" {
			continue
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("screenshot: %s", path)
	}
}
