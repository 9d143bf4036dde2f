package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
)

func TestNewKey(t *testing.T) {
	t.Parallel()
	raw, k, err := auth.NewKey("acme", "test", auth.Key{OrganizationID: "org", Name: "ci", Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 10})
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.Parse(raw.Reveal())
	if err != nil || p.PublicID != k.PublicID || k.Env != "test" || !auth.Verify(raw.Reveal(), k.Hash) ||
		k.DisplayPrefix != p.DisplayPrefix() || k.ID == "" || k.Name != "ci" || k.RateLimitPerMinute != 10 {
		t.Fatalf("NewKey: %+v %v", k, err)
	}
	if strings.Contains(fmt.Sprintf("%v %+v", raw, k), raw.Reveal()) {
		t.Fatal("raw key printed")
	}
	m := auth.NewMemory(auth.MemoryOptions{})
	if err := m.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auth.NewKey("Bad", "live", auth.Key{}); err == nil {
		t.Fatal("bad prefix accepted")
	}
	_, k2, _ := auth.NewKey("acme", "live", auth.Key{ID: "fixed"})
	if k2.ID != "fixed" {
		t.Fatal("ID overwritten")
	}
}
