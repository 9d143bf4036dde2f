package sqlaudit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"gatehouse.dev/audit"
	"gatehouse.dev/tenancy"
)

// EventsTable is the name of the admin trail table [Events] owns.
const EventsTable = "gatehouse_audit_events"

// eventsLockClass is the first key of the per-organization advisory lock of
// [Events.Append] on PostgreSQL.
const eventsLockClass = 0x6765 // "ge"

// EventsOptions configures [NewEvents].
type EventsOptions struct {
	// DB is the database. Required.
	DB *sql.DB
	// Dialect is tenancy.SQLite or tenancy.Postgres. Required.
	Dialect tenancy.Dialect
	// Cap is how many events each organization keeps. Zero means
	// audit.DefaultEventsCap.
	Cap int
	// Now defaults to time.Now; it dates events appended without a time.
	Now func() time.Time
}

// Events is the SQL admin actions trail ([audit.Events]): one row per
// event in gatehouse_audit_events, each organization pruned to its newest
// Cap by (time, id) in the transaction that appends.
type Events struct {
	db      *sql.DB
	dialect tenancy.Dialect
	cap     int
	now     func() time.Time

	insertQ, pruneQ, listQ string
}

var _ audit.Events = (*Events)(nil)

// NewEvents returns an Events trail, or an error when DB or Dialect is
// missing or Cap is negative. Call [Events.Migrate] once.
func NewEvents(opts EventsOptions) (*Events, error) {
	if opts.DB == nil {
		return nil, errors.New("sqlaudit: EventsOptions.DB is required")
	}
	if opts.Dialect != tenancy.SQLite && opts.Dialect != tenancy.Postgres {
		return nil, errors.New("sqlaudit: EventsOptions.Dialect must be tenancy.SQLite or tenancy.Postgres")
	}
	if opts.Cap < 0 {
		return nil, errors.New("sqlaudit: EventsOptions.Cap must not be negative")
	}
	if opts.Cap == 0 {
		opts.Cap = audit.DefaultEventsCap
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := opts.Dialect
	return &Events{
		db: opts.DB, dialect: d, cap: opts.Cap, now: opts.Now,
		insertQ: d.Rebind("INSERT INTO " + EventsTable + " (organization_id, time_ms, id, actor, action, target, details)" +
			" VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"),
		pruneQ: d.Rebind("DELETE FROM " + EventsTable + " WHERE organization_id = ? AND (time_ms, id) < (" +
			"SELECT time_ms, id FROM " + EventsTable + " WHERE organization_id = ? ORDER BY time_ms DESC, id DESC LIMIT 1 OFFSET ?)"),
		listQ: d.Rebind("SELECT time_ms, id, actor, action, target, details FROM " + EventsTable +
			" WHERE organization_id = ? ORDER BY time_ms DESC, id DESC LIMIT ?"),
	}, nil
}

// Cap returns how many events each organization keeps.
func (s *Events) Cap() int { return s.cap }

// EventsStatements returns the idempotent DDL of version 1 of the
// "audit_events" component ([EventsMigrations] lists every version). The primary
// key (organization_id, time_ms, id) is the index of reads and pruning.
func EventsStatements(d tenancy.Dialect) []string {
	text, suffix := "TEXT", " WITHOUT ROWID"
	if d == tenancy.Postgres {
		text, suffix = `TEXT COLLATE "C"`, ""
	}
	return []string{`CREATE TABLE IF NOT EXISTS ` + EventsTable + ` (
	organization_id ` + text + ` NOT NULL,
	time_ms BIGINT NOT NULL,
	id ` + text + ` NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	details TEXT NOT NULL,
	PRIMARY KEY (organization_id, time_ms, id)
)` + suffix}
}

// EventsComponent is the name under which the schema versions of [Events]
// are recorded in gatehouse_schema_versions.
const EventsComponent = "audit_events"

// EventsMigrations returns the versions of [Events]' schema, oldest first,
// for [tenancy.MigrateVersions]. Version 1 creates the table
// ([EventsStatements]).
func EventsMigrations() []tenancy.Migration {
	return []tenancy.Migration{
		{Version: 1, Description: "gatehouse_audit_events", Statements: EventsStatements},
	}
}

// Migrate brings the table to the last of [EventsMigrations] with
// [tenancy.MigrateVersions].
func (s *Events) Migrate(ctx context.Context) error {
	if err := tenancy.MigrateVersions(ctx, s.db, s.dialect, EventsComponent, EventsMigrations()); err != nil {
		return fmt.Errorf("sqlaudit: %w", err)
	}
	return nil
}

// Append stores e and prunes its organization to the newest Cap, in one
// transaction; see [audit.Events.Append]. Appending an event already
// stored (same organization, time and id) is a no-op.
func (s *Events) Append(ctx context.Context, e audit.Event) error {
	e, err := audit.PrepareEvent(e, s.now)
	if err != nil {
		return err
	}
	details := "{}"
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("sqlaudit: append event: %w", err)
		}
		details = string(b)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlaudit: append event: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if s.dialect == tenancy.Postgres {
		h := fnv.New32a()
		_, _ = h.Write([]byte(e.OrganizationID))
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, $2)", eventsLockClass, int32(h.Sum32())); err != nil {
			return fmt.Errorf("sqlaudit: append event: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.insertQ, e.OrganizationID, e.Time.UnixMilli(), e.ID, e.Actor, e.Action, e.Target, details); err != nil {
		return fmt.Errorf("sqlaudit: append event: insert: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.pruneQ, e.OrganizationID, e.OrganizationID, s.cap-1); err != nil {
		return fmt.Errorf("sqlaudit: append event: prune: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlaudit: append event: commit: %w", err)
	}
	return nil
}

// List returns the newest events of orgID, newest first, at most Cap; an
// empty non-nil slice when there are none.
func (s *Events) List(ctx context.Context, orgID string) ([]audit.Event, error) {
	out := []audit.Event{}
	if orgID == "" {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, s.listQ, orgID, s.cap)
	if err != nil {
		return nil, fmt.Errorf("sqlaudit: list events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := audit.Event{OrganizationID: orgID}
		var ms int64
		var details string
		if err := rows.Scan(&ms, &e.ID, &e.Actor, &e.Action, &e.Target, &details); err != nil {
			return nil, fmt.Errorf("sqlaudit: list events: scan: %w", err)
		}
		e.Time = time.UnixMilli(ms).UTC()
		if details != "" && details != "{}" {
			if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
				return nil, fmt.Errorf("sqlaudit: list events: details of %s: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlaudit: list events: %w", err)
	}
	return out, nil
}
