// Package browser drives the example's API keys page in a real browser
// (Debian's chromium through chromedp) over real HTTP: it builds and starts
// examples/joby in demo mode, logs in with the printed link and walks every
// flow a person would. Run with -update to rewrite the screenshots under
// docs/ (CI never does).
package browser
