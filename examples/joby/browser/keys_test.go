package browser

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

var update = flag.Bool("update", false, "rewrite the screenshots under docs/")

// demo is the example started in demo mode.
type demo struct {
	base, adminToken, login string
}

// startDemo builds examples/joby and runs it with -demo on a free port and
// a fresh database; it returns what -demo printed.
func startDemo(t *testing.T) demo {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "joby")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build examples/joby: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-demo", "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "joby.db"))
	cmd.Env = append(os.Environ(), "ADMIN_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	var d demo
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	api := regexp.MustCompile(`^Joby API on (http://\S+)/v1`)
	tok := regexp.MustCompile(`Authorization: Bearer (joby_admin_\S+)`)
	link := regexp.MustCompile(`^\s+(http://\S+/demo-login\?token=\S+)`)
	timeout := time.After(60 * time.Second)
	for d.login == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("joby -demo ended before printing the login link")
			}
			if m := api.FindStringSubmatch(l); m != nil {
				d.base = m[1]
			}
			if m := tok.FindStringSubmatch(l); m != nil {
				d.adminToken = m[1]
			}
			if m := link.FindStringSubmatch(l); m != nil {
				d.login = m[1]
			}
		case <-timeout:
			t.Fatal("joby -demo printed no login link within 60 s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	return d
}

// status calls the API with key and returns the status code.
func (d demo) status(t *testing.T, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", d.base+"/v1/leads?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

func (d demo) admin(t *testing.T, method, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, d.base+"/admin"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.adminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d", method, path, res.StatusCode)
	}
}

// browser starts a headless chromium.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := os.Getenv("CHROMIUM")
	if exe == "" {
		exe = "chromium"
	}
	path, err := exec.LookPath(exe)
	if err != nil {
		if os.Getenv("GATEHOUSE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("chromium is required (GATEHOUSE_REQUIRE_SERVICES=1) but not found: %v (apt-get install -y chromium)", err)
		}
		t.Skipf("chromium not found (%v); apt-get install -y chromium", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 150*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// run runs the steps or fails the test.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that returns a value, or fails the test.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*update {
		return
	}
	buf := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join("..", "..", "..", "docs", name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestKeysPage(t *testing.T) {
	d := startDemo(t)
	ctx := browser(t)
	var (
		dialogsMu sync.Mutex
		dialogs   []string
	)
	// Start the browser, then accept every dialog and note its text.
	run(t, ctx, "start", chromedp.Navigate("about:blank"))
	go func() {
		for e, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			dialogsMu.Lock()
			dialogs = append(dialogs, e.Message)
			dialogsMu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	keys := d.base + "/settings/developer/api-keys/"

	// Log in with the printed single-use link; the menu shows the tab.
	run(t, ctx, "login", chromedp.Navigate(d.login), chromedp.WaitVisible(chromedp.ID("create-key")))
	tab := get(t, ctx, "tab", chromedp.Evaluate[int](`document.querySelectorAll("#api-keys-tab").length`))
	if tab != 1 {
		t.Fatal("the settings menu has no API Keys tab")
	}
	screenshot(t, ctx, "keysui-list.png")

	// Create a key through the form; the key is shown once.
	createKey := func(name string) string {
		t.Helper()
		run(t, ctx, "create "+name,
			chromedp.Navigate(keys+"new"),
			chromedp.WaitVisible(chromedp.ID("name")),
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.Click(chromedp.CSS(`#scope-leads\:read`)),
			chromedp.Click(chromedp.ID("create-submit")),
			chromedp.WaitVisible(chromedp.ID("new-key")))
		return get(t, ctx, "shown key", chromedp.Value(chromedp.ID("new-key")))
	}
	run(t, ctx, "open the form", chromedp.Navigate(keys+"new"), chromedp.WaitVisible(chromedp.ID("name")))
	screenshot(t, ctx, "keysui-create.png")
	raw := createKey("Zapier")
	if !strings.HasPrefix(raw, "joby_live_") {
		t.Fatalf("shown key %q", raw)
	}
	copyHidden := get(t, ctx, "copy button", chromedp.Evaluate[bool](`document.querySelector("button[data-copy]").hidden`))
	if copyHidden {
		t.Error("the copy button stays hidden with JavaScript on")
	}
	screenshot(t, ctx, "keysui-shown-once.png")
	if c := d.status(t, raw); c != 200 {
		t.Fatalf("new key on /v1/leads: %d", c)
	}

	// Reload re-posts the form: the key is not shown again.
	run(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("h1")))
	body := get(t, ctx, "body", chromedp.Text(chromedp.CSS("body")))
	if strings.Contains(body, raw) || !strings.Contains(body, "Already created") {
		t.Fatalf("after reload: %s", body)
	}

	// Back from the list to the result page never shows the key again
	// (the page is no-store: it is re-posted, or not shown at all).
	run(t, ctx, "done", chromedp.Navigate(keys), chromedp.WaitVisible(chromedp.ID("create-key")))
	// Chromium refuses to show a no-store POST result from history
	// (net::ERR_CACHE_MISS); re-posting would answer "already created".
	if err := chromedp.Do(ctx, chromedp.NavigateBack()); err != nil && !strings.Contains(err.Error(), "ERR_CACHE_MISS") {
		t.Fatalf("Back: %v", err)
	}
	body = get(t, ctx, "body after Back", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if strings.Contains(body, raw) {
		t.Fatal("Back showed the key again")
	}
	run(t, ctx, "list", chromedp.Navigate(keys), chromedp.WaitVisible(chromedp.ID("create-key")))
	if n := get(t, ctx, "keys", chromedp.Evaluate[int](`document.querySelectorAll("tr[data-key-id]").length`)); n != 2 {
		t.Fatalf("%d keys after reload and Back, want 2 (the demo key and Zapier)", n)
	}

	// Rotate with a grace of an hour: both keys work.
	detail := func(name string) {
		t.Helper()
		run(t, ctx, "open "+name, chromedp.Navigate(keys), chromedp.WaitVisible(chromedp.ID("create-key")),
			chromedp.Click(chromedp.Search(fmt.Sprintf(`//a[text()=%q]`, name))), chromedp.WaitVisible(chromedp.CSS("h1")))
	}
	rotate := func(grace string) string {
		t.Helper()
		run(t, ctx, "rotate "+grace, chromedp.Click(chromedp.ID("rotate-key")), chromedp.WaitVisible(chromedp.ID("rotate-confirm")),
			chromedp.Click(chromedp.ID("grace-"+grace)), chromedp.Click(chromedp.ID("rotate-confirm")),
			chromedp.WaitVisible(chromedp.ID("new-key")))
		return get(t, ctx, "rotated key", chromedp.Value(chromedp.ID("new-key")))
	}
	detail("Zapier")
	rotated := rotate("3600")
	if a, b := d.status(t, raw), d.status(t, rotated); a != 200 || b != 200 {
		t.Fatalf("during the grace: old %d, new %d", a, b)
	}
	// Rotate the new key "now" (after a JavaScript confirmation): its
	// grace is over at once, so it is refused; the newest works.
	run(t, ctx, "back to the list", chromedp.Navigate(keys), chromedp.WaitVisible(chromedp.ID("create-key")))
	rows := chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr[data-key-id]")].map(r => r.dataset.keyId)`)
	ids := get(t, ctx, "rows", rows)
	run(t, ctx, "open rotated", chromedp.Navigate(keys+"keys/"+ids[0]), chromedp.WaitVisible(chromedp.ID("rotate-key")))
	newest := rotate("0")
	if a, b := d.status(t, rotated), d.status(t, newest); a != 401 || b != 200 {
		t.Fatalf("after the grace: old %d, new %d", a, b)
	}
	dialogsMu.Lock()
	if len(dialogs) != 1 || !strings.Contains(dialogs[0], "stop working immediately") {
		t.Errorf("confirmations %q", dialogs)
	}
	dialogsMu.Unlock()

	// Revoke (confirmation page): the next request gets 401.
	run(t, ctx, "back to the list", chromedp.Navigate(keys), chromedp.WaitVisible(chromedp.ID("create-key")))
	ids = get(t, ctx, "rows", rows)
	run(t, ctx, "revoke", chromedp.Navigate(keys+"keys/"+ids[0]), chromedp.Click(chromedp.ID("revoke-key")),
		chromedp.WaitVisible(chromedp.ID("revoke-confirm")), chromedp.Click(chromedp.ID("revoke-confirm")),
		chromedp.WaitVisible(chromedp.ID("create-key")))
	if c := d.status(t, newest); c != 401 {
		t.Fatalf("revoked key: %d", c)
	}

	// A name with <script> is text.
	evil := `<script>alert("x")</script>`
	createKey(evil)
	run(t, ctx, "list", chromedp.Navigate(keys), chromedp.WaitVisible(chromedp.ID("create-key")))
	shown := get(t, ctx, "name", chromedp.Evaluate[string](`[...document.querySelectorAll("tr[data-key-id] a")].map(a => a.textContent).find(s => s.includes("script"))`))
	if shown != evil {
		t.Errorf("name shown as %q", shown)
	}
	dialogsMu.Lock()
	if len(dialogs) != 1 {
		t.Errorf("a script ran: dialogs %q", dialogs)
	}
	dialogsMu.Unlock()

	// A form posted from another origin is refused and creates nothing.
	count := chromedp.Evaluate[int](`document.querySelectorAll("tr[data-key-id]").length`)
	before := get(t, ctx, "count", count)
	evilSite := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%snew"><input name="name" value="csrf"><input name="scopes" value="leads:read"><button id="go">go</button></form>`, keys)
	}))
	defer evilSite.Close()
	run(t, ctx, "cross-origin post", chromedp.Navigate(evilSite.URL), chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.CSS("h1")))
	body = get(t, ctx, "heading", chromedp.Text(chromedp.CSS("h1")))
	if body != "Request refused" {
		t.Errorf("cross-origin post answered %q", body)
	}
	run(t, ctx, "list", chromedp.Navigate(keys), chromedp.WaitVisible(chromedp.ID("create-key")))
	after := get(t, ctx, "count", count)
	if after != before {
		t.Errorf("keys %d → %d after a cross-origin post", before, after)
	}

	// The create flow with the keyboard only; every control is labelled.
	run(t, ctx, "form", chromedp.Navigate(keys+"new"), chromedp.WaitVisible(chromedp.ID("name")))
	unlabelled := get(t, ctx, "labels", chromedp.Evaluate[[]string](`[...document.querySelectorAll("input:not([type=hidden]), button, select, textarea")]
		.filter(e => !(e.labels && e.labels.length) && !e.textContent.trim() && !e.getAttribute("aria-label")).map(e => e.outerHTML)`))
	if len(unlabelled) > 0 {
		t.Errorf("controls without a label: %v", unlabelled)
	}
	focus := func(id string) {
		t.Helper()
		for range 40 {
			run(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
			active := get(t, ctx, "focus", chromedp.Evaluate[string](`document.activeElement.id`))
			if active == id {
				return
			}
		}
		t.Fatalf("Tab never reached #%s", id)
	}
	focus("name")
	run(t, ctx, "type", chromedp.KeyEvent("Keyboard only"))
	focus("scope-leads:read")
	run(t, ctx, "space", chromedp.KeyEvent(" "))
	focus("create-submit")
	run(t, ctx, "enter", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.ID("new-key")))
	kbKey := get(t, ctx, "key", chromedp.Value(chromedp.ID("new-key")))
	if c := d.status(t, kbKey); c != 200 {
		t.Errorf("key created with the keyboard: %d", c)
	}

	// Module off: the tab is gone and the page explains.
	d.admin(t, "PATCH", "/orgs/00000000-0000-4000-8000-00000000d3e0", `{"api_enabled":false}`)
	run(t, ctx, "module off", chromedp.Navigate(keys), chromedp.WaitVisible(chromedp.ID("keysui-disabled")))
	tab = get(t, ctx, "tab", chromedp.Evaluate[int](`document.querySelectorAll("#api-keys-tab").length`))
	body = get(t, ctx, "body", chromedp.Text(chromedp.CSS("body")))
	if tab != 0 || !strings.Contains(body, "contact Joby Support") {
		t.Errorf("module off: tab %d, body %s", tab, body)
	}
}
