#!/usr/bin/env bash
# What rate limits cost and how exactly they admit: requests per CPU-second and p50/p99 of a route with two
# limits (per IP, per app) counted in process and on Redis against the same route without limits, in one run;
# then configured vs admitted for 1 and 3 gateways. How it works: the docstring of bench/limits.py;
# results: bench/RESULTS.md.
#
#   bench/limits.sh            # full run: accuracy (about 1 minute), then 5 rounds x 8 scenarios x 8 s
#                              # (about 9 minutes + noise waits)
#   QUICK=1 bench/limits.sh    # smoke run: accuracy for 3 s per case, 1 round x 2 s (about 2 minutes)
#
# Environment (all optional):
#   PORTCULLIS_BIN PORTCULLIS_COMMIT   a prebuilt binary and the commit it was built from (default: build)
#   ROUNDS DURATION WARMUP     rounds, seconds per measured run, seconds of warm-up per run (ROUNDS=0: accuracy only)
#   CONNECTIONS THREADS        wrk -c / -t (default 32 / 1; the *_c1 scenarios use -c1)
#   SCENARIOS                  comma list (default: open,local,redis,open_r,open_again,open_c1,local_c1,redis_c1)
#   PROXY_CORE CLIENT_CORE UPSTREAM_CORE REDIS_CORE   cores for taskset (default 0 / 1 / 1 / 1)
#   ACCURACY_SECONDS           how long the gcra accuracy load runs per case (default 10; QUICK 3; 0: skip)
#   BENCH_PORT_BASE            ports on 127.0.0.1 are base+500 (upstream), +501..504 (two gateways and their
#                              admin APIs), +505 (redis-server), +510..512 (accuracy gateways) (default 18100)
#   BENCH_OUT                  output directory (default bench/out; this script writes BENCH_OUT/limits)
#   NOISE_LIMIT RETRIES NOISE_BUDGET  as for bench/run.sh (0.15 cores, 2 repeats, 240 s; QUICK: 30 s)
#   MAX_SECONDS                stop starting new runs after this long (default 1200; QUICK: 180)
#   PERF                       after the rounds, profile the gateway with perf for PERF seconds in open, local
#                              and redis (perf record --call-graph dwarf; e.g. ROUNDS=0 ACCURACY_SECONDS=0 PERF=8)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
OUT="${BENCH_OUT:-$BENCH_DIR/out}/limits"
mkdir -p "$OUT"

# shellcheck source=bench/quick.sh
source "$BENCH_DIR/quick.sh"
ROUNDS="${ROUNDS:-$(quick_or 1 5)}"
DURATION="${DURATION:-$(quick_or 2 8)}"
MAX_SECONDS="${MAX_SECONDS:-$(quick_or 180 1200)}"

DRIVER_PY=limits.py
EXTRA_TOOLS=(redis-server)
DRIVER_ARGS=(--redis-core "${REDIS_CORE:-1}" --accuracy-seconds "${ACCURACY_SECONDS:-$(quick_or 3 10)}"
    ${PERF:+--perf "$PERF"})
# shellcheck source=bench/driver.sh
source "$BENCH_DIR/driver.sh"
