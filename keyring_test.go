package gatehouse_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"gatehouse.dev"
)

func TestKeyringMACRotation(t *testing.T) {
	t.Parallel()
	old := gatehouse.GenerateSecret("k1")
	cur := gatehouse.GenerateSecret("k2")
	before, err := gatehouse.NewKeyring(old)
	if err != nil {
		t.Fatal(err)
	}
	after, err := gatehouse.NewKeyring(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	id, sum := before.MAC("cursor", []byte("org"), []byte("pos"))
	if !after.VerifyMAC(id, sum, "cursor", []byte("org"), []byte("pos")) {
		t.Fatal("old MAC does not verify after rotation")
	}
	cases := []struct {
		name    string
		purpose string
		parts   [][]byte
	}{
		{"other purpose", "webhook", [][]byte{[]byte("org"), []byte("pos")}},
		{"other org", "cursor", [][]byte{[]byte("org2"), []byte("pos")}},
		{"shifted boundary", "cursor", [][]byte{[]byte("orgp"), []byte("os")}},
		{"missing part", "cursor", [][]byte{[]byte("org")}},
	}
	for _, tc := range cases {
		if after.VerifyMAC(id, sum, tc.purpose, tc.parts...) {
			t.Errorf("%s: verified", tc.name)
		}
	}
	if after.VerifyMAC("nope", sum, "cursor", []byte("org"), []byte("pos")) {
		t.Error("unknown id verified")
	}
	if id2, _ := after.MAC("x"); id2 != "k2" {
		t.Errorf("current id %q", id2)
	}
}

func TestKeyringSeal(t *testing.T) {
	t.Parallel()
	old := gatehouse.GenerateSecret("old")
	k1, _ := gatehouse.NewKeyring(old)
	k2, _ := gatehouse.NewKeyring(gatehouse.GenerateSecret("new"), old)
	sealed := k1.Seal([]byte("whsec_abc"), []byte("endpoint-1"))
	if strings.Contains(sealed, "whsec") || !strings.HasPrefix(sealed, "old.") {
		t.Fatalf("sealed %q", sealed)
	}
	pt, err := k2.Open(sealed, []byte("endpoint-1"))
	if err != nil || !bytes.Equal(pt, []byte("whsec_abc")) {
		t.Fatalf("Open after rotation: %q %v", pt, err)
	}
	if _, err := k2.Open(sealed, []byte("endpoint-2")); err == nil {
		t.Error("wrong aad opened")
	}
	tampered := []byte(sealed)
	tampered[len(tampered)-2] ^= 1
	for _, s := range []string{string(tampered), "old", "old.", "zzz." + sealed[4:], "old.!!!"} {
		if _, err := k2.Open(s, []byte("endpoint-1")); err == nil {
			t.Errorf("Open(%q) succeeded", s)
		}
	}
	if s2 := k2.Seal([]byte("x"), nil); !strings.HasPrefix(s2, "new.") {
		t.Errorf("new seal uses %q", s2)
	}
}

func TestParseKeyring(t *testing.T) {
	t.Parallel()
	k, _ := gatehouse.NewKeyring(gatehouse.GenerateSecret("a"), gatehouse.GenerateSecret("b"))
	k2, err := gatehouse.ParseKeyring(k.Format())
	if err != nil || k2.Format() != k.Format() || k2.CurrentID() != "a" {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "a", "a:short", "a:" + strings.Repeat("A", 43) + ",a:" + strings.Repeat("A", 43), "bad id:" + strings.Repeat("A", 43), "a:***"} {
		if _, err := gatehouse.ParseKeyring(bad); err == nil {
			t.Errorf("ParseKeyring(%q) succeeded", bad)
		}
	}
	if s := fmt.Sprint(k) + fmt.Sprintf("%#v", gatehouse.GenerateSecret("z")); strings.Contains(s, k.Format()[2:12]) {
		t.Errorf("secret printed: %s", s)
	}
}

func FuzzParseKeyring(f *testing.F) {
	f.Add("a:" + strings.Repeat("A", 43))
	f.Add("a:x,b:y")
	f.Add(",,,")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := gatehouse.ParseKeyring(s)
		if err != nil {
			return
		}
		if _, err := gatehouse.ParseKeyring(k.Format()); err != nil {
			t.Fatalf("formatted keyring does not parse: %v", err)
		}
	})
}
