package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
)

// Target is one system under load.
type Target struct {
	// ID selects the target on the command line ("sqlite-1", "pg-3-redis",
	// "pocketbase").
	ID string
	// Name labels its rows in the tables.
	Name string
	// PocketBase marks the PocketBase target; the others run the example
	// or, with Bare, the hand-written baseline.
	PocketBase bool
	// Bare runs the hand-written baseline (gatehouse.dev/bench/bare) on the
	// target's database instead of the example.
	Bare bool
	// Postgres runs the example on a fresh PostgreSQL schema instead of a
	// fresh SQLite file.
	Postgres bool
	// Pods is the number of example processes sharing the database.
	Pods int
	// Redis gives the pods the Redis limiter, audit log and key cache feed.
	Redis bool
}

// Targets returns every target, in run order.
func Targets() []Target {
	return []Target{
		{ID: "sqlite-1", Name: "gatehouse SQLite, 1 pod", Pods: 1},
		{ID: "sqlite-1-redis", Name: "gatehouse SQLite, 1 pod, Redis", Pods: 1, Redis: true},
		{ID: "pg-1", Name: "gatehouse PostgreSQL, 1 pod", Postgres: true, Pods: 1},
		{ID: "pg-1-redis", Name: "gatehouse PostgreSQL, 1 pod, Redis", Postgres: true, Pods: 1, Redis: true},
		{ID: "pg-3", Name: "gatehouse PostgreSQL, 3 pods", Postgres: true, Pods: 3},
		{ID: "pg-3-redis", Name: "gatehouse PostgreSQL, 3 pods, Redis", Postgres: true, Pods: 3, Redis: true},
		{ID: "bare-sqlite", Name: "bare SQLite", Bare: true},
		{ID: "bare-pg", Name: "bare PostgreSQL", Bare: true, Postgres: true},
		{ID: "pocketbase", Name: "PocketBase", PocketBase: true},
	}
}

// PocketBaseBaseline compares lists and filters with PocketBase's better
// figure: with or without the organization filter added by the client.
func PocketBaseBaseline() Baseline {
	return Baseline{Target: "PocketBase", Best: map[string][]string{
		"list":   {"list", "list +org filter"},
		"filter": {"filter", "filter +org filter"},
	}}
}

// Options configures [Run].
type Options struct {
	// Joby is the built examples/joby binary.
	Joby string
	// PocketBase is the built bench/pocketbase binary; "" skips PocketBase.
	PocketBase string
	// Bare is the built bench/cmd/bare binary; "" skips the bare targets.
	Bare string
	// Wrk is the wrk binary; "" means "wrk" on PATH.
	Wrk string
	// Dir holds databases, logs and wrk's files; it must exist.
	Dir string
	// Postgres is the URL of a PostgreSQL database in which each PostgreSQL
	// target gets a fresh schema (dropped afterwards); "" means
	// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
	Postgres string
	// Redis is the Redis URL of the +Redis targets; "" means
	// redis://127.0.0.1:6379/0.
	Redis string
	// Targets selects targets by ID; nil means all of [Targets].
	Targets []string
	// Duration is the length of each measured run; zero means 10 s.
	Duration time.Duration
	// Warmup is a list run at the highest connection count before the
	// measured runs of each target; zero means 2 s, negative none.
	Warmup time.Duration
	// Connections are the connection counts; nil means 1 and 16.
	Connections []int
	// PerOrg is the number of leads per organization; zero means 10,000.
	PerOrg int
	// Runs is how many times every target is measured; zero means once.
	// Rounds are interleaved (every target once, then every target again)
	// so that a noisy minute on a shared machine spreads over all targets,
	// and the report gives the median of the rounds per cell
	// ([MedianResults]).
	Runs int
	// Log receives progress lines; nil means none.
	Log io.Writer
}

// Report is the outcome of [Run].
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Duration string    `json:"duration_per_run"`
	Targets  []string  `json:"targets"` // names, in run order
	// Results holds one result per target, workload and connection count:
	// the median of the rounds when Options.Runs > 1.
	Results []Result `json:"results"`
	// Rounds holds every round's results when Options.Runs > 1.
	Rounds []Result `json:"rounds,omitempty"`
	Plans  []Plan   `json:"plans"`
	// Failures lists targets that could not be measured, with the reason.
	Failures []string `json:"failures,omitempty"`
}

// Run seeds, starts and loads every selected target in turn, stopping the
// processes it started before the next target. A target that fails is
// recorded in Report.Failures and the run goes on.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Joby == "" || o.Dir == "" {
		return Report{}, errors.New("e2e: Options.Joby and Options.Dir are required")
	}
	if o.Postgres == "" {
		o.Postgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	if o.Redis == "" {
		o.Redis = "redis://127.0.0.1:6379/0"
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 2 * time.Second
	}
	if len(o.Connections) == 0 {
		o.Connections = []int{1, 16}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	var targets []Target
	for _, t := range Targets() {
		if (o.Targets == nil || slices.Contains(o.Targets, t.ID)) && (!t.PocketBase || o.PocketBase != "") && (!t.Bare || o.Bare != "") {
			targets = append(targets, t)
		}
	}
	for _, id := range o.Targets {
		if !slices.ContainsFunc(Targets(), func(t Target) bool { return t.ID == id }) {
			return Report{}, fmt.Errorf("e2e: unknown target %q", id)
		}
	}
	if o.Runs <= 0 {
		o.Runs = 1
	}
	rep := Report{Started: time.Now().UTC(), Duration: o.Duration.String()}
	data := NewDataset(DatasetOptions{PerOrg: o.PerOrg, Seed: 6})
	explained := map[bool]bool{} // by Postgres
	failed := map[string]bool{}
	for round := 1; round <= o.Runs; round++ {
		for _, t := range targets {
			if ctx.Err() != nil {
				break
			}
			if failed[t.Name] {
				continue // a target that failed once is not retried
			}
			if round == 1 {
				rep.Targets = append(rep.Targets, t.Name)
			}
			fmt.Fprintf(o.Log, "== %s (round %d of %d)\n", t.Name, round, o.Runs)
			var (
				res   []Result
				plans []Plan
				err   error
			)
			switch {
			case t.PocketBase:
				res, plans, err = runPocketBase(ctx, o, t, data)
			case t.Bare:
				res, err = runBare(ctx, o, t, data)
			default:
				res, plans, err = runJoby(ctx, o, t, data, !explained[t.Postgres])
				if err == nil {
					explained[t.Postgres] = true
				}
			}
			for i := range res {
				res[i].Round = round
			}
			rep.Results = append(rep.Results, res...)
			rep.Plans = append(rep.Plans, plans...)
			if err != nil {
				fmt.Fprintf(o.Log, "   FAILED: %v\n", err)
				rep.Failures = append(rep.Failures, fmt.Sprintf("%s (round %d): %v", t.Name, round, err))
				failed[t.Name] = true
			}
		}
	}
	if o.Runs > 1 {
		rep.Rounds = rep.Results
		rep.Results = MedianResults(rep.Rounds)
	}
	rep.Finished = time.Now().UTC()
	return rep, ctx.Err()
}

// procs stops the processes of one target, last started first.
type procs []*Proc

func (ps procs) stop(log io.Writer) {
	for i := len(ps) - 1; i >= 0; i-- {
		if err := ps[i].Stop(20 * time.Second); err != nil {
			fmt.Fprintf(log, "   %v\n", err)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runJoby measures one example target.
func runJoby(ctx context.Context, o Options, t Target, data []Lead, explain bool) ([]Result, []Plan, error) {
	dir := filepath.Join(o.Dir, t.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	dbURL := filepath.Join(dir, "joby.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(dbURL + suffix)
	}
	if t.Postgres {
		u, drop, err := freshSchema(ctx, o.Postgres)
		if err != nil {
			return nil, nil, err
		}
		defer drop()
		dbURL = u
	}
	ports, err := FreePorts(t.Pods)
	if err != nil {
		return nil, nil, err
	}
	keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("e2e"))
	if err != nil {
		return nil, nil, err
	}
	adminToken := "e2e-admin-" + randomHex(24)
	env := []string{"ADMIN_TOKEN=" + adminToken, "GATEHOUSE_SECRET_KEYS=" + keyring.Format()}
	var ps procs
	defer func() { ps.stop(o.Log) }()
	for i, port := range ports {
		args := []string{"-addr", "127.0.0.1:" + strconv.Itoa(port), "-db", dbURL}
		if t.Redis {
			args = append(args, "-redis", o.Redis, "-replicas", strconv.Itoa(t.Pods))
		}
		p, err := Start(fmt.Sprintf("joby pod %d", i+1), o.Joby, args, env, filepath.Join(dir, fmt.Sprintf("pod%d.log", i+1)))
		if err != nil {
			return nil, nil, err
		}
		ps = append(ps, p)
		// One pod at a time: the first one migrates the database.
		if err := WaitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), p); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(o.Log, "   pod %d: pid %d on 127.0.0.1:%d\n", i+1, p.Pid(), port)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	admin := map[string]string{"Authorization": "Bearer " + adminToken}
	var orgIDs []string
	for _, name := range []string{"Org A", "Org B"} {
		var org struct{ Data struct{ ID string } }
		if err := call(ctx, http.MethodPost, base+"/admin/orgs", admin, map[string]any{"name": name}, http.StatusCreated, &org); err != nil {
			return nil, nil, err
		}
		if err := call(ctx, http.MethodPatch, base+"/admin/orgs/"+org.Data.ID, admin, map[string]any{"api_enabled": true}, http.StatusOK, nil); err != nil {
			return nil, nil, err
		}
		orgIDs = append(orgIDs, org.Data.ID)
	}
	var key struct{ Data struct{ ID, Key string } }
	if err := call(ctx, http.MethodPost, base+"/admin/orgs/"+orgIDs[0]+"/api-keys", admin, map[string]any{
		"name": "e2e benchmark", "scopes": []string{"leads:read", "leads:create"}, "rate_limit_per_minute": 300,
	}, http.StatusCreated, &key); err != nil {
		return nil, nil, err
	}

	db, dialect, err := sqldb.Open(dbURL)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	// Before the key's first request: no pod has it cached yet.
	if err := RaiseKeyLimit(ctx, db, dialect, key.Data.ID, 1_000_000_000); err != nil {
		return nil, nil, err
	}
	start := time.Now()
	if err := Seed(ctx, db, dialect, data, orgIDs); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.Log, "   seeded %d leads in %v\n", len(data), time.Since(start).Round(time.Millisecond))

	var idsA, idsB []string // newest first
	for i := len(data) - 1; i >= 0; i-- {
		if data[i].Org == 0 {
			idsA = append(idsA, data[i].ID)
		} else {
			idsB = append(idsB, data[i].ID)
		}
	}
	user := map[string]string{"Authorization": "Bearer " + key.Data.Key, "Accept": "application/json"}
	if err := checkJoby(ctx, ports, user, orgIDs[0], idsA[0], idsB[0]); err != nil {
		return nil, nil, err
	}

	var plans []Plan
	if explain {
		qs, err := ListQueries(dialect, orgIDs[0], idsA[0])
		if err != nil {
			return nil, nil, err
		}
		for _, q := range qs {
			p, err := Explain(ctx, db, dialect, q)
			if err != nil {
				return nil, nil, err
			}
			if q.Ordered {
				p.Checked = true
				p.Check = CheckPlan(dialect, p.Text, ListIndex, true)
				if dialect == tenancy.Postgres {
					p.Check = errors.Join(p.Check, CheckPlan(dialect, p.Generic, ListIndex, true))
				}
			}
			plans = append(plans, p)
		}
	}

	post := map[string]string{"Authorization": user["Authorization"], "Accept": "application/json", "Content-Type": "application/json"}
	workloads := []Workload{
		{Name: "list", Method: http.MethodGet, Path: "/v1/leads?limit=50", Header: user},
		{Name: "filter", Method: http.MethodGet, Path: "/v1/leads?status=Won&limit=50", Header: user},
		{Name: "get", Method: http.MethodGet, Path: "/v1/leads/{id}", IDs: Pick(idsA, 1000), Header: user},
		{Name: "create", Method: http.MethodPost, Path: "/v1/leads", Body: createBody(""), Header: post},
	}
	res, err := measure(ctx, o, t, dir, ports, ps, workloads)
	return res, plans, err
}

// createBody is the body of the create workload; org is PocketBase's org
// field ("" for the example, which takes the organization from the key).
func createBody(org string) string {
	m := map[string]string{
		"first_name": "Bench", "last_name": "Create", "phone": "+15550100", "email": "bench.create@example.com",
		"city": "Austin", "state": "TX", "status": "New", "job_type": "Plumbing", "ad_source": "Website",
	}
	if org != "" {
		m["org"] = org
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// checkJoby verifies, before any load, that the seeded data is served as
// the registry would serve its own rows, that organization B's leads are
// invisible to A's key, and that every pod answers.
func checkJoby(ctx context.Context, ports []int, h map[string]string, orgA, newestA, leadB string) error {
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	type lead struct {
		ID             string `json:"id"`
		OrganizationID string `json:"organization_id"`
		Status         string `json:"status"`
		CreatedAt      string `json:"created_at"`
	}
	var list struct{ Data []lead }
	if err := call(ctx, http.MethodGet, base+"/v1/leads?limit=50", h, nil, http.StatusOK, &list); err != nil {
		return err
	}
	if len(list.Data) != 50 || list.Data[0].ID != newestA {
		return fmt.Errorf("e2e: check: list gave %d leads, first %+v; want 50, first %s", len(list.Data), first(list.Data), newestA)
	}
	var won struct{ Data []lead }
	if err := call(ctx, http.MethodGet, base+"/v1/leads?status=Won&limit=50", h, nil, http.StatusOK, &won); err != nil {
		return err
	}
	if len(won.Data) != 50 {
		return fmt.Errorf("e2e: check: status=Won gave %d leads, want 50", len(won.Data))
	}
	for _, l := range append(list.Data, won.Data...) {
		if l.OrganizationID != orgA {
			return fmt.Errorf("e2e: check: lead %s of organization %s in A's list", l.ID, l.OrganizationID)
		}
	}
	for _, l := range won.Data {
		if l.Status != StatusWon {
			return fmt.Errorf("e2e: check: lead %s has status %q in the Won list", l.ID, l.Status)
		}
	}
	for _, port := range ports {
		u := fmt.Sprintf("http://127.0.0.1:%d/v1/leads/", port)
		if err := call(ctx, http.MethodGet, u+leadB, h, nil, http.StatusNotFound, nil); err != nil {
			return fmt.Errorf("e2e: check: organization B's lead as A: %w", err)
		}
		if err := call(ctx, http.MethodGet, u+newestA, h, nil, http.StatusOK, nil); err != nil {
			return err
		}
	}
	return nil
}

func first[T any](v []T) any {
	if len(v) == 0 {
		return nil
	}
	return v[0]
}

// measure runs a warm-up (the get workload: it fills the key cache and the
// connection pools without leaving slow requests behind) and then every
// workload at every connection count, each run starting once the target's
// processes are idle.
func measure(ctx context.Context, o Options, t Target, dir string, ports []int, ps []*Proc, ws []Workload) ([]Result, error) {
	maxConns := slices.Max(o.Connections)
	if o.Warmup > 0 {
		warm := ws[0]
		for _, w := range ws {
			if w.Name == "get" {
				warm = w
			}
		}
		if _, err := RunWrk(ctx, WrkOptions{Wrk: o.Wrk, Dir: dir, Ports: ports, Workload: warm, Connections: maxConns, Duration: o.Warmup}); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	var out []Result
	for _, w := range ws {
		for _, c := range o.Connections {
			if d := WaitIdle(ctx, ps, time.Minute); d > 2*time.Second {
				fmt.Fprintf(o.Log, "   (waited %v for the target to finish abandoned requests)\n", d.Round(100*time.Millisecond))
			}
			r, err := RunWrk(ctx, WrkOptions{Wrk: o.Wrk, Dir: dir, Ports: ports, Workload: w, Connections: c, Duration: o.Duration})
			if err != nil {
				return out, err
			}
			r.Target = t.Name
			fmt.Fprintf(o.Log, "   %-20s %2d conns: %8s req/s  p50 %s  p90 %s  p99 %s", w.Name, r.Used, FormatRPS(r.RPS), FormatLatency(r.P50), FormatLatency(r.P90), FormatLatency(r.P99))
			if r.Errors > 0 || r.Non2xx > 0 {
				fmt.Fprintf(o.Log, "  (%d errors, %d non-2xx)", r.Errors, r.Non2xx)
			}
			fmt.Fprintln(o.Log)
			out = append(out, r)
		}
	}
	return out, nil
}

// freshSchema creates a schema in the database at admin and returns a URL
// whose search_path is that schema, and a func dropping it.
func freshSchema(ctx context.Context, adminURL string) (string, func(), error) {
	db, _, err := sqldb.Open(adminURL)
	if err != nil {
		return "", nil, err
	}
	schema := "gh_e2e_" + randomHex(6)
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = db.Close()
		return "", nil, fmt.Errorf("e2e: PostgreSQL at %s: %w", adminURL, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		_ = db.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		_ = db.Close()
	}, nil
}

// call sends a JSON request and decodes the answer into out (when not nil),
// failing unless the status is want.
func call(ctx context.Context, method, u string, h map[string]string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<22))
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("e2e: %s %s: status %d, want %d: %s", method, u, res.StatusCode, want, truncate(b, 500))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("e2e: %s %s: %w", method, u, err)
		}
	}
	return nil
}

// pbQueries are the statements PocketBase v0.39.11 runs for the list
// workloads as member A (as its --dev mode logs them; {{user}} is the
// member's id and {{org}} A's org), for EXPLAIN QUERY PLAN on its data.db.
var pbQueries = []struct{ name, sql string }{
	{"list newest 50", "SELECT DISTINCT `leads`.* FROM `leads` LEFT JOIN `users` `__auth_users` ON `__auth_users`.`id`='{{user}}' WHERE COALESCE(`leads`.`org`, '') = COALESCE(`__auth_users`.`org`, '') ORDER BY `leads`.`created` DESC, `leads`.`id` DESC LIMIT 50"},
	{"list +org filter", "SELECT DISTINCT `leads`.* FROM `leads` LEFT JOIN `users` `__auth_users` ON `__auth_users`.`id`='{{user}}' WHERE (COALESCE(`leads`.`org`, '') = COALESCE(`__auth_users`.`org`, '')) AND (`leads`.`org` = '{{org}}') ORDER BY `leads`.`created` DESC, `leads`.`id` DESC LIMIT 50"},
	{"list status=Won", "SELECT DISTINCT `leads`.* FROM `leads` LEFT JOIN `users` `__auth_users` ON `__auth_users`.`id`='{{user}}' WHERE (COALESCE(`leads`.`org`, '') = COALESCE(`__auth_users`.`org`, '')) AND (`leads`.`status` = 'Won') ORDER BY `leads`.`created` DESC, `leads`.`id` DESC LIMIT 50"},
}

// runPocketBase measures PocketBase.
func runPocketBase(ctx context.Context, o Options, t Target, data []Lead) ([]Result, []Plan, error) {
	dir := filepath.Join(o.Dir, t.ID)
	dataDir := filepath.Join(dir, "pb_data")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, nil, err
	}
	orgs := []string{"org-a-" + randomHex(8), "org-b-" + randomHex(8)}
	members := []string{"member-a@bench.example.com", "member-b@bench.example.com"}
	password := "bench-" + randomHex(12)
	csvPath := filepath.Join(dir, "leads.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		return nil, nil, err
	}
	if err := errors.Join(WriteCSV(f, data, orgs), f.Close()); err != nil {
		return nil, nil, err
	}
	idsPath := filepath.Join(dir, "ids.csv")
	start := time.Now()
	seed, err := Start("pocketbase seed", o.PocketBase, []string{
		"seed", "--dev=false", "--dir", dataDir, "--data", csvPath,
		"--member", members[0] + "=" + orgs[0], "--member", members[1] + "=" + orgs[1],
		"--password", password, "--ids-out", idsPath,
	}, nil, filepath.Join(dir, "seed.log"))
	if err != nil {
		return nil, nil, err
	}
	if err := seed.Wait(); err != nil {
		return nil, nil, fmt.Errorf("e2e: pocketbase seed: %w (see %s)", err, filepath.Join(dir, "seed.log"))
	}
	fmt.Fprintf(o.Log, "   seeded %d leads through PocketBase's record API in %v\n", len(data), time.Since(start).Round(time.Millisecond))
	raw, err := os.ReadFile(idsPath)
	if err != nil {
		return nil, nil, err
	}
	var idsA, idsB []string // newest first
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		org, id, _ := strings.Cut(l, ",")
		switch org {
		case orgs[0]:
			idsA = append(idsA, id)
		case orgs[1]:
			idsB = append(idsB, id)
		}
	}
	if len(idsA) == 0 || len(idsB) == 0 {
		return nil, nil, fmt.Errorf("e2e: pocketbase seed wrote %d and %d ids", len(idsA), len(idsB))
	}

	ports, err := FreePorts(1)
	if err != nil {
		return nil, nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	var ps procs
	defer func() { ps.stop(o.Log) }()
	p, err := Start("pocketbase", o.PocketBase, []string{"serve", "--dev=false", "--dir", dataDir, "--http", "127.0.0.1:" + strconv.Itoa(ports[0])}, nil, filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, nil, err
	}
	ps = append(ps, p)
	if err := WaitHTTP(ctx, base+"/api/health", p); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.Log, "   pid %d on 127.0.0.1:%d\n", p.Pid(), ports[0])
	var auth struct {
		Token  string
		Record struct{ ID string }
	}
	if err := call(ctx, http.MethodPost, base+"/api/collections/users/auth-with-password", nil,
		map[string]string{"identity": members[0], "password": password}, http.StatusOK, &auth); err != nil {
		return nil, nil, err
	}
	user := map[string]string{"Authorization": auth.Token, "Accept": "application/json"}
	if err := checkPocketBase(ctx, base, user, orgs[0], idsA[0], idsB[0]); err != nil {
		return nil, nil, err
	}

	const list = "/api/collections/leads/records?perPage=50&sort=-created,-id&skipTotal=1"
	filter := func(f string) string { return list + "&filter=" + url.QueryEscape(f) }
	post := map[string]string{"Authorization": auth.Token, "Accept": "application/json", "Content-Type": "application/json"}
	workloads := []Workload{
		{Name: "list", Method: http.MethodGet, Path: list, Header: user},
		{Name: "list +org filter", Method: http.MethodGet, Path: filter("org='" + orgs[0] + "'"), Header: user},
		{Name: "filter", Method: http.MethodGet, Path: filter("status='Won'"), Header: user},
		{Name: "filter +org filter", Method: http.MethodGet, Path: filter("org='" + orgs[0] + "' && status='Won'"), Header: user},
		{Name: "get", Method: http.MethodGet, Path: "/api/collections/leads/records/{id}", IDs: Pick(idsA, 1000), Header: user},
		{Name: "create", Method: http.MethodPost, Path: "/api/collections/leads/records", Body: createBody(orgs[0]), Header: post},
	}
	res, err := measure(ctx, o, t, dir, ports, ps, workloads)
	ps.stop(o.Log)
	ps = nil
	if err != nil {
		return res, nil, err
	}
	plans, err := pocketBasePlans(ctx, filepath.Join(dataDir, "data.db"), auth.Record.ID, orgs[0])
	return res, plans, err
}

// checkPocketBase verifies what checkJoby verifies, on PocketBase.
func checkPocketBase(ctx context.Context, base string, h map[string]string, orgA, newestA, leadB string) error {
	type lead struct{ ID, Org, Status string }
	var list struct{ Items []lead }
	if err := call(ctx, http.MethodGet, base+"/api/collections/leads/records?perPage=50&sort=-created,-id&skipTotal=1", h, nil, http.StatusOK, &list); err != nil {
		return err
	}
	if len(list.Items) != 50 || list.Items[0].ID != newestA {
		return fmt.Errorf("e2e: check: PocketBase list gave %d leads, first %+v; want 50, first %s", len(list.Items), first(list.Items), newestA)
	}
	for _, l := range list.Items {
		if l.Org != orgA {
			return fmt.Errorf("e2e: check: PocketBase lead %s of %s in A's list", l.ID, l.Org)
		}
	}
	if err := call(ctx, http.MethodGet, base+"/api/collections/leads/records/"+leadB, h, nil, http.StatusNotFound, nil); err != nil {
		return fmt.Errorf("e2e: check: organization B's lead as A: %w", err)
	}
	return nil
}

// pocketBasePlans explains pbQueries on PocketBase's database (PocketBase
// stopped).
func pocketBasePlans(ctx context.Context, path, userID, org string) ([]Plan, error) {
	db, err := sqldb.OpenSQLite(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []Plan
	for _, q := range pbQueries {
		s := strings.NewReplacer("{{user}}", userID, "{{org}}", org).Replace(q.sql)
		text, err := sqlitePlan(ctx, db, s, nil)
		if err != nil {
			return out, err
		}
		out = append(out, Plan{Dialect: "PocketBase (SQLite)", Name: q.name, SQL: s, Text: text})
	}
	return out, nil
}
