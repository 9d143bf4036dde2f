package client

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate regenerates the client from the committed document
// into a temporary file with the module's own oapi-codegen (its tool
// directive; offline, from the module cache) and fails if client.gen.go
// differs: run `go generate ./...` after the document changed.
func TestGeneratedUpToDate(t *testing.T) {
	cfg, err := os.ReadFile("oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "client.gen.go")
	tmpCfg := strings.Replace(string(cfg), "output: client.gen.go", "output: "+out, 1)
	if tmpCfg == string(cfg) {
		t.Fatal("oapi-codegen.yaml has no `output: client.gen.go` line")
	}
	cfgPath := filepath.Join(t.TempDir(), "oapi-codegen.yaml")
	if err := os.WriteFile(cfgPath, []byte(tmpCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "tool", "oapi-codegen", "-config", cfgPath, "../joby/testdata/openapi-3.0.json")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("client.gen.go is out of date with ../joby/testdata/openapi-3.0.json: run `go generate ./...` in examples/client")
	}
}
