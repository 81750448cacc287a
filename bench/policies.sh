#!/usr/bin/env bash
# What route policies cost: body inspection (JSON/XML limits, OpenAPI) and
# in-process rate limits, in requests per CPU-second of one Portcullis process.
# See bench/README.md ("Policy benchmarks").
#
#   bench/policies.sh            # full run: 8 rounds x 8 scenarios x 5 s (about 8 minutes + noise waits)
#   QUICK=1 bench/policies.sh    # smoke run: 1 round x 2 s (about 1 minute)
#
# Environment (all optional):
#   PORTCULLIS_BIN     prebuilt binary to measure (default: build target/release/portcullis;
#                      CARGO_TARGET_DIR is honoured like cargo does)
#   PORTCULLIS_COMMIT  label for the commit a prebuilt binary was built from (shown in the report)
#   ROUNDS DURATION WARMUP     rounds, seconds per measured run, seconds of warm-up per run
#   CONNECTIONS THREADS        wrk -c / -t (default 32 / 1)
#   SCENARIOS                  comma list (default: all seven, see bench/policies.py)
#   PROXY_CORE CLIENT_CORE UPSTREAM_CORE   cores for taskset (default 0 / 1 / 1)
#   BENCH_PORT_BASE            ports on 127.0.0.1 are base+300 (upstream) and base+301 (default base 18100)
#   BENCH_OUT                  output directory (default bench/out; this script writes BENCH_OUT/policies)
#   NOISE_LIMIT RETRIES NOISE_BUDGET  as for bench/run.sh (0.15 cores, 2 repeats, 240 s; QUICK: 30 s)
#   MAX_SECONDS                stop starting new runs after this long (default 1500; QUICK: 150)
#   PERF                       after the rounds, profile the gateway with perf for PERF seconds per body or
#                              limit scenario (perf record --call-graph dwarf; e.g. ROUNDS=0 PERF=8)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
OUT="${BENCH_OUT:-$BENCH_DIR/out}/policies"
mkdir -p "$OUT"

# shellcheck source=bench/quick.sh
source "$BENCH_DIR/quick.sh"
ROUNDS="${ROUNDS:-$(quick_or 1 8)}"
DURATION="${DURATION:-$(quick_or 2 5)}"
MAX_SECONDS="${MAX_SECONDS:-$(quick_or 150 1500)}"

DRIVER_PY=policies.py
EXTRA_TOOLS=()
DRIVER_ARGS=(${PERF:+--perf "$PERF"})
# shellcheck source=bench/driver.sh
source "$BENCH_DIR/driver.sh"
