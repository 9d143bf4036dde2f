package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"gatehouse.dev/bench/bare"
	"gatehouse.dev/sqldb"
)

// BareBaseline compares every workload with the hand-written baseline on
// the same database.
func BareBaseline(postgres bool) Baseline {
	if postgres {
		return Baseline{Target: "bare PostgreSQL"}
	}
	return Baseline{Target: "bare SQLite"}
}

// runBare measures the hand-written baseline (bench/cmd/bare) on a fresh
// database with the same data and workloads as the example; the
// organization travels in bare.OrgHeader instead of a key.
func runBare(ctx context.Context, o Options, t Target, data []Lead) ([]Result, error) {
	dir := filepath.Join(o.Dir, t.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	dbURL := filepath.Join(dir, "bare.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(dbURL + suffix)
	}
	if t.Postgres {
		u, drop, err := freshSchema(ctx, o.Postgres)
		if err != nil {
			return nil, err
		}
		defer drop()
		dbURL = u
	}
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	p, err := Start("bare", o.Bare, []string{"-addr", "127.0.0.1:" + strconv.Itoa(ports[0]), "-db", dbURL}, nil, filepath.Join(dir, "bare.log"))
	if err != nil {
		return nil, err
	}
	ps := procs{p}
	defer func() { ps.stop(o.Log) }()
	if err := WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[0]), p); err != nil {
		return nil, err
	}
	db, dialect, err := sqldb.Open(dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	orgIDs := []string{"0b6c7a1e-0000-4000-8000-00000000000a", "0b6c7a1e-0000-4000-8000-00000000000b"}
	if err := Seed(ctx, db, dialect, data, orgIDs); err != nil {
		return nil, err
	}
	var idsA []string
	for i := len(data) - 1; i >= 0; i-- {
		if data[i].Org == 0 {
			idsA = append(idsA, data[i].ID)
		}
	}
	user := map[string]string{bare.OrgHeader: orgIDs[0], "Accept": "application/json"}
	post := map[string]string{bare.OrgHeader: orgIDs[0], "Accept": "application/json", "Content-Type": "application/json"}
	workloads := []Workload{
		{Name: "list", Method: http.MethodGet, Path: "/v1/leads?limit=50", Header: user},
		{Name: "filter", Method: http.MethodGet, Path: "/v1/leads?status=Won&limit=50", Header: user},
		{Name: "get", Method: http.MethodGet, Path: "/v1/leads/{id}", IDs: Pick(idsA, 1000), Header: user},
		{Name: "create", Method: http.MethodPost, Path: "/v1/leads", Body: createBody(""), Header: post},
	}
	return measure(ctx, o, t, dir, ports, ps, workloads)
}
