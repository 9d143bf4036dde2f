// Package e2e is the end-to-end load benchmark of issue 6: the reference
// API (examples/joby) on SQLite and PostgreSQL, one pod and three, with and
// without Redis, and PocketBase with an organization rule, under the same
// workload, measured with wrk from outside the processes.
//
// The workload: two organizations with 10,000 leads each; requests as
// organization A: list the newest 50, list with status=Won (about 10 % of
// the rows), get one by id (rotating over 1,000 ids), create one; at 1 and
// 16 connections. run.sh in this directory builds everything and runs
// cmd/e2e; docs/benchmarks-e2e.md of the main module has the figures, the
// commands and the query plans.
//
// The package holds the parts the runner is made of, each tested on its
// own: the deterministic data set ([NewDataset]), its SQL seeding in the
// example's schema ([Seed]), the list queries and their plans
// ([ListQueries], [Explain], [CheckPlan]), the wrk driver ([RunWrk],
// [ParseWrk]), the result tables ([Markdown]) and the process handling
// ([Start]).
package e2e
