package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/tenancy"
)

// ListIndex is the index the registry's IndexDDL creates on leads:
// (organization_id, created_at DESC, id DESC).
const ListIndex = "leads_gatehouse_list_idx"

// selectColumns are the columns the registry selects for the example's leads
// resource: id, organization_id, created_at, updated_at, then the declared
// fields in order (examples/joby/resources.go).
var selectColumns = []string{
	"id", "organization_id", "created_at", "updated_at",
	"lead_number", "first_name", "last_name", "phone", "email", "address", "city", "state", "postal_code",
	"status", "sub_status", "job_type", "ad_source", "scheduled_at", "client_id", "notes",
}

// Query is one SQL statement with its arguments.
type Query struct {
	Name string // "list", "filter status=Won", …
	SQL  string
	Args []any
	// Ordered is true when the statement has an ORDER BY that the plan
	// must take from the index (no sort step).
	Ordered bool
}

// ListQueries returns the statements the example runs for the benchmark's
// reads as organization orgID, built by tenancy.Table as the registry builds
// them: the first page of the newest 50 (LIMIT 51: one more row tells
// has_more), the same with status=Won, and get by id.
func ListQueries(d tenancy.Dialect, orgID, leadID string) ([]Query, error) {
	ctx := gatehouse.NewCallerContext(context.Background(), gatehouse.Caller{OrgID: orgID})
	t := tenancy.Table{Name: "leads", Dialect: d}
	order := []tenancy.Order{{Column: "created_at", Desc: true}, {Column: "id", Desc: true}}
	var out []Query
	for _, c := range []struct {
		name  string
		where []tenancy.Cond
	}{
		{"list newest 50", nil},
		{"list status=Won", []tenancy.Cond{tenancy.Eq("status", StatusWon)}},
	} {
		q, args, err := t.SelectSQL(ctx, tenancy.Query{Columns: selectColumns, Where: c.where, OrderBy: order, Limit: 51})
		if err != nil {
			return nil, err
		}
		out = append(out, Query{Name: c.name, SQL: q, Args: args, Ordered: true})
	}
	// tenancy.Table.Get: SELECT cols FROM t WHERE org = ? AND id = ?
	quoted := make([]string, len(selectColumns))
	for i, c := range selectColumns {
		quoted[i] = tenancy.QuoteIdent(c)
	}
	get := "SELECT " + strings.Join(quoted, ", ") + ` FROM "leads" WHERE "organization_id" = ? AND "id" = ?`
	out = append(out, Query{Name: "get by id", SQL: d.Rebind(get), Args: []any{orgID, leadID}})
	return out, nil
}

// Plan is the query plan of one statement.
type Plan struct {
	Dialect string // "sqlite" or "postgres"
	Name    string // of the Query
	SQL     string
	// Text is the plan as the database prints it: EXPLAIN QUERY PLAN on
	// SQLite; EXPLAIN (ANALYZE, BUFFERS) with the arguments (the custom
	// plan) on PostgreSQL.
	Text string
	// Generic is PostgreSQL's generic plan (plan_cache_mode =
	// force_generic_plan), the one a prepared statement may switch to
	// after five executions; empty on SQLite.
	Generic string
	// Checked tells whether Check holds a verdict.
	Checked bool
	// Check is the [CheckPlan] verdict on Text and Generic: nil when the
	// organization predicate and the order come from the index.
	Check error `json:"-"`
}

// Explain returns the plan of q. On PostgreSQL it runs the statement
// (EXPLAIN ANALYZE), and prepares it once to show the generic plan too.
func Explain(ctx context.Context, db *sql.DB, d tenancy.Dialect, q Query) (Plan, error) {
	p := Plan{Dialect: d.String(), Name: q.Name, SQL: q.SQL}
	switch d {
	case tenancy.SQLite:
		text, err := sqlitePlan(ctx, db, q.SQL, q.Args)
		if err != nil {
			return p, err
		}
		p.Text = text
	case tenancy.Postgres:
		text, err := lines(ctx, db, "EXPLAIN (ANALYZE, BUFFERS) "+q.SQL, q.Args...)
		if err != nil {
			return p, err
		}
		p.Text = text
		if p.Generic, err = genericPlan(ctx, db, q); err != nil {
			return p, err
		}
	default:
		return p, fmt.Errorf("e2e: explain: unknown dialect %v", d)
	}
	return p, nil
}

// sqlitePlan renders EXPLAIN QUERY PLAN rows as an indented tree, like the
// sqlite3 shell.
func sqlitePlan(ctx context.Context, db *sql.DB, query string, args []any) (string, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", fmt.Errorf("e2e: explain: %w", err)
	}
	defer rows.Close()
	depth := map[int64]int{}
	var b strings.Builder
	b.WriteString("QUERY PLAN\n")
	for rows.Next() {
		var id, parent, unused int64
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", fmt.Errorf("e2e: explain: %w", err)
		}
		d := depth[parent] + 1
		depth[id] = d
		b.WriteString(strings.Repeat("   ", d-1) + "`--" + detail + "\n")
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("e2e: explain: %w", err)
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func lines(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) (string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return "", fmt.Errorf("e2e: explain: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", fmt.Errorf("e2e: explain: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("e2e: explain: %w", err)
	}
	return strings.Join(out, "\n"), nil
}

// genericPlan prepares q on one connection with plan_cache_mode =
// force_generic_plan and explains an execution of it.
func genericPlan(ctx context.Context, db *sql.DB, q Query) (string, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	lits := make([]string, len(q.Args))
	for i, a := range q.Args {
		switch v := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case int:
			lits[i] = strconv.Itoa(v)
		case int64:
			lits[i] = strconv.FormatInt(v, 10)
		default:
			return "", fmt.Errorf("e2e: explain: argument %d of type %T", i, a)
		}
	}
	stmts := []string{
		"SET plan_cache_mode = force_generic_plan",
		"PREPARE e2e_explain AS " + q.SQL,
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return "", fmt.Errorf("e2e: explain: %s: %w", s, err)
		}
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DEALLOCATE e2e_explain")
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "RESET plan_cache_mode")
	}()
	return lines(ctx, conn, "EXPLAIN EXECUTE e2e_explain("+strings.Join(lits, ", ")+")")
}

// CheckPlan reports whether plan (as [Explain] prints it) reads leads
// through index with the organization predicate as its search key and, when
// ordered, takes the order from it: on SQLite "SEARCH leads USING INDEX
// <index> (organization_id=?)" and no "USE TEMP B-TREE FOR ORDER BY"; on
// PostgreSQL an "Index Scan using <index>" (not backward: the index is
// already newest first) with "Index Cond" on organization_id and no Sort or
// Seq Scan node.
func CheckPlan(d tenancy.Dialect, plan, index string, ordered bool) error {
	var errs []error
	switch d {
	case tenancy.SQLite:
		if !strings.Contains(plan, "SEARCH leads USING INDEX "+index+" (organization_id=?)") {
			errs = append(errs, fmt.Errorf("no search of %s by organization_id", index))
		}
		if ordered && strings.Contains(plan, "TEMP B-TREE") {
			errs = append(errs, errors.New("sorts in a temporary b-tree"))
		}
		if strings.Contains(plan, "SCAN leads") {
			errs = append(errs, errors.New("scans the table"))
		}
	case tenancy.Postgres:
		if !strings.Contains(plan, "Index Scan using "+index+" on leads") {
			errs = append(errs, fmt.Errorf("no forward index scan of %s", index))
		}
		if !strings.Contains(plan, "Index Cond: (organization_id = ") {
			errs = append(errs, errors.New("organization_id is not the index condition"))
		}
		for _, bad := range []string{"Sort", "Seq Scan", "Bitmap Heap Scan"} {
			for _, l := range strings.Split(plan, "\n") {
				if strings.HasPrefix(strings.TrimLeft(strings.TrimSpace(l), "-> "), bad) {
					errs = append(errs, fmt.Errorf("has a %s node", bad))
					break
				}
			}
		}
	default:
		return fmt.Errorf("e2e: check plan: unknown dialect %v", d)
	}
	return errors.Join(errs...)
}
