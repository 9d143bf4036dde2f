package auth_test

import (
	"testing"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/authtest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	authtest.RunStore(t, func(t *testing.T) authtest.Stores {
		m := auth.NewMemory(auth.MemoryOptions{})
		return authtest.Stores{Keys: m, Orgs: m}
	})
}
