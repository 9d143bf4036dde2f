// Command minimal is the README's embedding example: one resource on SQLite
// behind API keys, scopes, rate limits and an audit log, in about 30 lines.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"gatehouse.dev"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
	"gatehouse.dev/sqldb"
)

func main() {
	ctx := context.Background()
	db, dialect, err := sqldb.Open("minimal.db") // or a postgres:// URL
	check(err)
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,
		title TEXT NOT NULL, body TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`)
	check(err)
	reg, err := resource.New(resource.Options{DB: db, Dialect: dialect, Resources: []resource.Resource{{
		Name:   "notes",
		Fields: []resource.Field{{Name: "title", Type: resource.String, Required: true}, {Name: "body", Type: resource.Text, MaxLength: 10000}},
		Search: []string{"title", "body"},
	}}})
	check(err)
	check(reg.Migrate(ctx))

	keys := auth.NewMemory(auth.MemoryOptions{}) // or auth/sqlstore
	org, err := keys.CreateOrg(ctx, auth.Org{Name: "Acme", APIEnabled: true})
	check(err)
	raw, key, err := auth.NewKey("acme", "live", auth.Key{OrganizationID: org.ID, Name: "demo", Scopes: scope.NewSet(reg.Scopes()...), RateLimitPerMinute: 60})
	check(err)
	check(keys.CreateKey(ctx, key))
	fmt.Printf("curl -H 'Authorization: Bearer %s' http://127.0.0.1:8081/v1/notes\n", raw.Reveal())

	authn, err := auth.New(auth.Options{Store: keys, Orgs: keys, Prefix: "acme"})
	check(err)
	// Rate limit and audit read the key auth records (gatehouse.Caller).
	limits, err := ratelimit.New(ratelimit.Options{})
	check(err)
	entries := audit.NewMemory(audit.MemoryOptions{})
	trail, err := audit.New(audit.Options{Sink: entries})
	check(err)
	api := gatehouse.RequestID(authn.Wrap(trail.Wrap(limits.Wrap(reg))))
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", api))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
