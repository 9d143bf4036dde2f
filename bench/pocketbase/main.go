// Command pocketbase is the PocketBase side of the end-to-end benchmark
// (bench/e2e/run.sh): a stock PocketBase v0.39.11 with one extra command,
// seed, that creates the "leads" collection, the members of each
// organization and the benchmark's leads.
//
// The leads collection has an "org" text field and the rule
// "org = @request.auth.org" for list, view, create, update and delete, so
// organization isolation is enforced by the server for authenticated
// members (users whose own "org" field names their organization). Members
// cannot change their own org: the users collection's update rule refuses a
// body with org, and its create rule is superuser-only.
//
//	pocketbase seed --dir pb_data --data leads.csv --member a@x=ORG_A --member b@x=ORG_B --password P --ids-out ids.txt
//	pocketbase serve --dir pb_data --http 127.0.0.1:8090
//
// It is a module of its own so that PocketBase builds with the SQLite
// driver versions it was tested with.
package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
	"github.com/spf13/cobra"
)

// orgRule is the access rule of every leads operation.
const orgRule = "org = @request.auth.org"

func main() {
	app := pocketbase.New()
	app.RootCmd.AddCommand(seedCommand(app))
	if err := app.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "pocketbase:", err)
		os.Exit(1)
	}
}

func seedCommand(app *pocketbase.PocketBase) *cobra.Command {
	var (
		data, password, idsOut string
		members                []string
	)
	c := &cobra.Command{
		Use:   "seed",
		Short: "create the leads collection, the members and the benchmark's leads",
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := app.RunAllMigrations(); err != nil {
				return err
			}
			if err := setup(app); err != nil {
				return err
			}
			if err := addMembers(app, members, password); err != nil {
				return err
			}
			return seedLeads(app, data, idsOut)
		},
	}
	c.Flags().StringVar(&data, "data", "", "CSV file of leads (header: org,created,status,first_name,...)")
	c.Flags().StringArrayVar(&members, "member", nil, "email=org of a member to create (repeatable)")
	c.Flags().StringVar(&password, "password", "", "password of every member")
	c.Flags().StringVar(&idsOut, "ids-out", "", "file to write \"org,id\" lines of the seeded leads to, newest first")
	return c
}

// setup adds the org field to users and creates the leads collection with
// the same index the gatehouse registry creates: (org, created DESC, id DESC).
func setup(app core.App) error {
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		return err
	}
	if users.Fields.GetByName("org") == nil {
		users.Fields.Add(&core.TextField{Name: "org", Required: true, Max: 64})
	}
	users.CreateRule = nil // superusers only
	users.UpdateRule = types.Pointer("id = @request.auth.id && @request.body.org:isset = false")
	if err := app.Save(users); err != nil {
		return fmt.Errorf("users collection: %w", err)
	}
	if _, err := app.FindCollectionByNameOrId("leads"); err == nil {
		return nil
	}
	leads := core.NewBaseCollection("leads")
	leads.ListRule = types.Pointer(orgRule)
	leads.ViewRule = types.Pointer(orgRule)
	leads.CreateRule = types.Pointer(orgRule)
	leads.UpdateRule = types.Pointer(orgRule + " && @request.body.org:isset = false")
	leads.DeleteRule = types.Pointer(orgRule)
	leads.Fields.Add(&core.TextField{Name: "org", Required: true, Max: 64})
	for _, name := range []string{"first_name", "last_name", "phone", "address", "city", "state", "postal_code", "status", "sub_status", "job_type", "ad_source"} {
		leads.Fields.Add(&core.TextField{Name: name, Max: 255})
	}
	leads.Fields.Add(&core.EmailField{Name: "email"})
	leads.Fields.Add(&core.DateField{Name: "scheduled_at"})
	leads.Fields.Add(&core.TextField{Name: "notes", Max: 10000})
	leads.Fields.Add(&core.AutodateField{Name: "created", OnCreate: true})
	leads.Fields.Add(&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true})
	leads.AddIndex("idx_leads_org_created", false, "`org`, `created` DESC, `id` DESC", "")
	if err := app.Save(leads); err != nil {
		return fmt.Errorf("leads collection: %w", err)
	}
	return nil
}

func addMembers(app core.App, members []string, password string) error {
	if len(members) == 0 || password == "" {
		return errors.New("seed: --member and --password are required")
	}
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		return err
	}
	for _, m := range members {
		email, org, ok := strings.Cut(m, "=")
		if !ok || email == "" || org == "" {
			return fmt.Errorf("seed: --member %q: want email=org", m)
		}
		if _, err := app.FindAuthRecordByEmail(users, email); err == nil {
			continue
		}
		u := core.NewRecord(users)
		u.SetEmail(email)
		u.SetPassword(password)
		u.SetVerified(true)
		u.Set("org", org)
		if err := app.Save(u); err != nil {
			return fmt.Errorf("seed: member %s: %w", email, err)
		}
	}
	return nil
}

// seedLeads saves every row of the CSV file as a leads record through
// PocketBase's record API (validation and hooks included) in one
// transaction, keeping the file's created time.
func seedLeads(app core.App, path string, idsOut string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("seed: %s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"org", "created"} {
		if _, ok := col[need]; !ok {
			return fmt.Errorf("seed: %s: no %q column", path, need)
		}
	}
	var ids []string // "org,id"
	err = app.RunInTransaction(func(tx core.App) error {
		leads, err := tx.FindCollectionByNameOrId("leads")
		if err != nil {
			return err
		}
		for {
			row, err := r.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			rec := core.NewRecord(leads)
			for name, i := range col {
				if name == "created" || leads.Fields.GetByName(name) == nil {
					continue
				}
				rec.Set(name, row[i])
			}
			created, err := types.ParseDateTime(row[col["created"]])
			if err != nil {
				return fmt.Errorf("seed: created %q: %w", row[col["created"]], err)
			}
			rec.SetRaw("created", created)
			rec.SetRaw("updated", created)
			if err := tx.Save(rec); err != nil {
				return fmt.Errorf("seed: lead: %w", err)
			}
			ids = append(ids, row[col["org"]]+","+rec.Id)
		}
	})
	if err != nil {
		return err
	}
	if idsOut == "" {
		return nil
	}
	// The file lists the rows oldest first; the ids go out newest first.
	var b strings.Builder
	for i := len(ids) - 1; i >= 0; i-- {
		b.WriteString(ids[i])
		b.WriteByte('\n')
	}
	return os.WriteFile(idsOut, []byte(b.String()), 0o644)
}
