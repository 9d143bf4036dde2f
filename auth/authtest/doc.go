// Package authtest is the behaviour suite of [auth.KeyStore] and
// [auth.OrgStore] implementations, in the manner of testing/slogtest: every
// backend (the memory store, the SQL store on SQLite and on PostgreSQL)
// calls [RunStore] from its own tests, so they cannot drift apart.
//
//	func TestStore(t *testing.T) {
//		authtest.RunStore(t, func(t *testing.T) authtest.Stores {
//			m := auth.NewMemory(auth.MemoryOptions{})
//			return authtest.Stores{Keys: m, Orgs: m}
//		})
//	}
package authtest
