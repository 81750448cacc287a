#!/usr/bin/env bash
# What authentication costs: requests per CPU-second and p99 of one Portcullis
# process through /open (no auth), /key (api_key), /rs256 and /es256 (jwt),
# side by side in one run. How it works: the docstring of bench/auth.py; results: bench/RESULTS.md.
#
#   bench/auth.sh            # full run: 5 rounds x 5 scenarios x 10 s (about 7 minutes + noise waits)
#   QUICK=1 bench/auth.sh    # smoke run: 1 round x 2 s (about 1 minute)
#
# Environment (all optional):
#   PORTCULLIS_BIN     prebuilt binary to measure (default: build target/release/portcullis;
#                      CARGO_TARGET_DIR is honoured like cargo does)
#   PORTCULLIS_COMMIT  label for the commit a prebuilt binary was built from (shown in the report)
#   ROUNDS DURATION WARMUP     rounds, seconds per measured run, seconds of warm-up per run
#   CONNECTIONS THREADS        wrk -c / -t (default 32 / 1)
#   SCENARIOS                  comma list (default: open,key,rs256,es256,open_again; opt-in: rs256_fresh,
#                              es256_fresh, a new token per request from a pool of 50,500, needs THREADS=1 and
#                              the Python package cryptography)
#   PROXY_CORE CLIENT_CORE UPSTREAM_CORE   cores for taskset (default 0 / 1 / 1)
#   BENCH_PORT_BASE            ports on 127.0.0.1 are base+400 (upstream), +401 (gateway), +402 (admin API)
#                              (default base 18100)
#   BENCH_OUT                  output directory (default bench/out; this script writes BENCH_OUT/auth)
#   NOISE_LIMIT RETRIES NOISE_BUDGET  as for bench/run.sh (0.15 cores, 2 repeats, 240 s; QUICK: 30 s)
#   MAX_SECONDS                stop starting new runs after this long (default 900; QUICK: 150)
#   PERF                       after the rounds, profile the gateway with perf for PERF seconds per scenario
#                              (perf record --call-graph dwarf; e.g. ROUNDS=0 PERF=6 for a profile only)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
OUT="${BENCH_OUT:-$BENCH_DIR/out}/auth"
mkdir -p "$OUT"

# shellcheck source=bench/quick.sh
source "$BENCH_DIR/quick.sh"
ROUNDS="${ROUNDS:-$(quick_or 1 5)}"
DURATION="${DURATION:-$(quick_or 2 10)}"
MAX_SECONDS="${MAX_SECONDS:-$(quick_or 150 900)}"

DRIVER_PY=auth.py
EXTRA_TOOLS=(openssl)
DRIVER_ARGS=(${PERF:+--perf "$PERF"})
# shellcheck source=bench/driver.sh
source "$BENCH_DIR/driver.sh"
