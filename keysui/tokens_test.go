package keysui_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/keysui"
)

// TestFormTokens runs the same cases on the memory store and on SQLite and
// PostgreSQL: a token is claimed once, per organization, until it expires.
func TestFormTokens(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		testTokens(t, keysui.NewMemoryTokens())
	})
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		s, err := keysui.NewSQLTokens(db.DB, db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		testTokens(t, s)
	})
}

func testTokens(t *testing.T, s keysui.FormTokens) {
	ctx := t.Context()
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	if err := s.Issue(ctx, "org-a", "tok-1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "org-b", "tok-1", now); !errors.Is(err, keysui.ErrTokenUnknown) {
		t.Errorf("claim from another organization: %v", err)
	}
	if err := s.Claim(ctx, "org-a", "nope", now); !errors.Is(err, keysui.ErrTokenUnknown) {
		t.Errorf("claim unknown: %v", err)
	}
	if err := s.Claim(ctx, "org-a", "tok-1", now); err != nil {
		t.Fatalf("claim: %v", err)
	}
	if err := s.Claim(ctx, "org-a", "tok-1", now); !errors.Is(err, keysui.ErrTokenUsed) {
		t.Errorf("second claim: %v", err)
	}
	if err := s.Release(ctx, "org-a", "tok-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "org-a", "tok-1", now); err != nil {
		t.Errorf("claim after release: %v", err)
	}
	if err := s.Issue(ctx, "org-a", "tok-2", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "org-a", "tok-2", now.Add(time.Hour)); !errors.Is(err, keysui.ErrTokenUnknown) {
		t.Errorf("claim at expiry: %v", err)
	}
	// Concurrent claims: exactly one wins.
	if err := s.Issue(ctx, "org-a", "tok-3", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Claim(ctx, "org-a", "tok-3", now)
			if err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d concurrent claims won, want 1", won)
	}
}
