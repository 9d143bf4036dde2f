#!/usr/bin/env bash
# End-to-end load benchmark of issue 6 (not part of .ci/run).
#
# Builds examples/joby, the PocketBase app of bench/pocketbase and the
# runner bench/cmd/e2e, then loads, one target after another on 127.0.0.1:
#   gatehouse on SQLite (1 pod) and PostgreSQL (1 and 3 pods), each without
#   and with Redis, and PocketBase v0.39.11 with an organization rule,
# with wrk: list newest 50, list status=Won, get by id (1,000 ids), create;
# at 1 and 16 connections. Each target gets fresh data: two organizations
# with 10,000 leads each. Prints Markdown tables and the query plans.
#
#   bench/e2e/run.sh                    # 10 s per run, about 15 minutes
#   QUICK=1 bench/e2e/run.sh            # 2 s per run, a smoke test
#   bench/e2e/run.sh -targets pg-1,pocketbase -duration 5s
#
# Environment: QUICK=1, DURATION (e.g. 10s), WORK (work directory, default
# a new one under ${TMPDIR:-/tmp}), GATEHOUSE_TEST_POSTGRES (PostgreSQL
# URL; each PostgreSQL target gets a fresh schema in it, dropped
# afterwards), GATEHOUSE_TEST_REDIS (host:port). Extra arguments go to the
# runner (bench/cmd/e2e -h lists them). The runner stops the processes it
# started, by pid, before the next target and on Ctrl-C.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=$(cd "$here/.." && pwd)
root=$(cd "$bench/.." && pwd)

if ! command -v wrk >/dev/null 2>&1; then
  echo "wrk is missing; installing it from the distribution's packages" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  else
    sudo apt-get install -y -qq wrk >/dev/null || { sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; }
  fi
fi

duration=${DURATION:-10s}
warmup=2s
if [ "${QUICK:-}" = 1 ]; then
  duration=${DURATION:-2s}
  warmup=1s
fi
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-e2e.XXXXXX")}
mkdir -p "$work/bin"
echo "work directory: $work" >&2

export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
echo "building examples/joby, bench/pocketbase, bench/cmd/e2e and bench/cmd/bare" >&2
(cd "$root/examples/joby" && go build -o "$work/bin/joby" .)
(cd "$bench/pocketbase" && go build -o "$work/bin/pocketbase" .)
(cd "$bench" && go build -o "$work/bin/e2e" ./cmd/e2e && go build -o "$work/bin/bare" ./cmd/bare)

args=(-joby "$work/bin/joby" -pocketbase "$work/bin/pocketbase" -bare "$work/bin/bare" -dir "$work" -duration "$duration" -warmup "$warmup")
if [ -n "${GATEHOUSE_TEST_POSTGRES:-}" ]; then args+=(-postgres "$GATEHOUSE_TEST_POSTGRES"); fi
if [ -n "${GATEHOUSE_TEST_REDIS:-}" ]; then args+=(-redis "redis://$GATEHOUSE_TEST_REDIS/0"); fi
echo "wrk: $(wrk -v 2>&1 | head -n1)" >&2
exec "$work/bin/e2e" "${args[@]}" "$@"
