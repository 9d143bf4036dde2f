package audit_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gatehouse.dev/audit"
	"gatehouse.dev/audit/audittest"
)

func TestMemorySuite(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audittest.Log { return audit.NewMemory(audit.MemoryOptions{}) })
}

func TestMemorySuiteSmallCap(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audittest.Log { return audit.NewMemory(audit.MemoryOptions{Cap: 3}) })
}

func TestMemoryEvictsLeastRecentlyWrittenKey(t *testing.T) {
	t.Parallel()
	m := audit.NewMemory(audit.MemoryOptions{Cap: 2, MaxKeys: 3})
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(key string) {
		at = at.Add(time.Millisecond)
		m.Record(audit.Entry{Time: at, RequestID: fmt.Sprint(at.UnixMilli()), KeyID: key, OrganizationID: "org"})
	}
	rec("k1")
	rec("k2")
	rec("k3")
	rec("k1") // k2 is now the least recently written
	rec("k4") // evicts k2
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3", m.Len())
	}
	for key, want := range map[string]int{"k1": 2, "k2": 0, "k3": 1, "k4": 1} {
		got, err := m.Latest(t.Context(), "org", key)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Errorf("%s: %d entries, want %d", key, len(got), want)
		}
	}
	rec("k5") // evicts k3
	rec("k6") // evicts k1
	for key, want := range map[string]int{"k1": 0, "k3": 0, "k4": 1, "k5": 1, "k6": 1} {
		got, _ := m.Latest(t.Context(), "org", key)
		if len(got) != want {
			t.Errorf("%s: %d entries, want %d", key, len(got), want)
		}
	}
}

func TestMemoryMaxKeysOne(t *testing.T) {
	t.Parallel()
	m := audit.NewMemory(audit.MemoryOptions{MaxKeys: 1})
	for i := range 5 {
		m.Record(audit.Entry{Time: time.UnixMilli(int64(i)), RequestID: "r", KeyID: fmt.Sprint("k", i), OrganizationID: "o"})
		if m.Len() != 1 {
			t.Fatalf("Len = %d", m.Len())
		}
	}
	if got, _ := m.Latest(t.Context(), "o", "k4"); len(got) != 1 {
		t.Fatalf("newest key lost: %v", got)
	}
}

func BenchmarkMemoryRecord(b *testing.B) {
	m := audit.NewMemory(audit.MemoryOptions{})
	e := benchEntry()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		e.Time = e.Time.Add(time.Millisecond)
		e.KeyID = benchKeys[i%len(benchKeys)]
		m.Record(e)
	}
}

func TestChainMemory(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	res := audittest.RunChain(t, audit.NewMemory(audit.MemoryOptions{}), slog.New(slog.NewTextHandler(&logs, nil)))
	for _, s := range res.Secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs hold the secret %q", s)
		}
	}
}

func TestEntryJSONTime(t *testing.T) {
	t.Parallel()
	e := audit.Entry{Time: time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("x", 3600)), RequestID: "r", Status: 200}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"time":"2026-01-02T02:04:05.600Z"`) || strings.Count(string(b), `"time"`) != 1 {
		t.Fatalf("json %s", b)
	}
	var back audit.Entry
	if err := json.Unmarshal(b, &back); err != nil || !back.Time.Equal(e.Time) || back.RequestID != "r" || back.Status != 200 {
		t.Fatalf("round trip %+v %v", back, err)
	}
}
