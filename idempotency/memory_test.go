package idempotency_test

import (
	"context"
	"testing"
	"time"

	"gatehouse.dev/idempotency"
	"gatehouse.dev/idempotency/idemtest"
)

func TestMemorySuite(t *testing.T) {
	t.Parallel()
	idemtest.Run(t, idemtest.Options{
		New: func(t *testing.T, now func() time.Time) idempotency.Store {
			return idempotency.NewMemory(idempotency.MemoryOptions{Now: now})
		},
	})
}

func TestMemorySweep(t *testing.T) {
	t.Parallel()
	clock := idemtest.NewClock()
	m := idempotency.NewMemory(idempotency.MemoryOptions{Now: clock.Now, SweepEvery: time.Hour})
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := m.Claim(ctx, idempotency.Claim{Ref: idempotency.Ref{Scope: "s", Key: k, Token: "t"}, Fingerprint: "f", Lock: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Complete(ctx, idempotency.Ref{Scope: "s", Key: "c", Token: "t"}, idempotency.Response{Status: 201}, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if n, err := m.DeleteExpired(ctx); err != nil || n != 2 || m.Len() != 1 {
		t.Fatalf("DeleteExpired = %d, %v; %d left", n, err, m.Len())
	}
	clock.Advance(2 * time.Hour)
	// Claiming sweeps once SweepEvery has passed.
	if _, err := m.Claim(ctx, idempotency.Claim{Ref: idempotency.Ref{Scope: "s", Key: "d", Token: "t"}, Fingerprint: "f", Lock: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 {
		t.Fatalf("%d records after a sweeping claim", m.Len())
	}
}
