package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
)

// Example stores an organization and a key on SQLite.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sqlstore-example")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	store, err := sqlstore.New(sqlstore.Options{DB: db, Dialect: tenancy.SQLite})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := store.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	org, _ := store.CreateOrg(ctx, auth.Org{ID: "org-1", Name: "Acme"})
	on, _ := store.APIEnabled(ctx, org.ID)
	fmt.Println("API enabled:", on)
	_, _ = store.SetAPIEnabled(ctx, org.ID, true, time.Now())
	on, _ = store.APIEnabled(ctx, org.ID)
	fmt.Println("API enabled:", on)

	raw, p, _ := auth.Generate("joby", auth.EnvLive)
	err = store.CreateKey(ctx, auth.Key{
		ID: "key-1", OrganizationID: org.ID, Name: "CRM sync", Env: p.Env, PublicID: p.PublicID,
		Hash: auth.Hash(raw.Reveal()), DisplayPrefix: p.DisplayPrefix(), RateLimitPerMinute: 60,
	})
	fmt.Println("created:", err)
	k, _ := store.LookupKey(ctx, p.PublicID)
	fmt.Println(k.Name, auth.Verify(raw.Reveal(), k.Hash))
	_, err = store.GetKey(ctx, "org-2", "key-1")
	fmt.Println("from another organization:", err)
	// Output:
	// API enabled: false
	// API enabled: true
	// created: <nil>
	// CRM sync true
	// from another organization: auth: not found
}
