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

if [[ "${QUICK:-0}" == "1" ]]; then
    ROUNDS="${ROUNDS:-1}"
    DURATION="${DURATION:-2}"
    WARMUP="${WARMUP:-1}"
    NOISE_BUDGET="${NOISE_BUDGET:-30}"
    MAX_SECONDS="${MAX_SECONDS:-150}"
else
    ROUNDS="${ROUNDS:-5}"
    DURATION="${DURATION:-10}"
    WARMUP="${WARMUP:-1}"
    NOISE_BUDGET="${NOISE_BUDGET:-240}"
    MAX_SECONDS="${MAX_SECONDS:-900}"
fi

# Stop anything the driver started, even if the driver itself was killed.
cleanup() {
    local pidfile="$OUT/run/pids"
    if [[ -n "${DRIVER_PID:-}" ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
        kill -TERM "$DRIVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$DRIVER_PID" 2>/dev/null || break; sleep 0.2; done
    fi
    if [[ -f "$pidfile" ]]; then
        while read -r pid; do
            [[ -n "$pid" ]] || continue
            # Each server was started in its own session: its pid is its process group.
            kill -TERM -- "-$pid" 2>/dev/null || true
        done <"$pidfile"
        sleep 0.5
        while read -r pid; do
            [[ -n "$pid" ]] || continue
            kill -KILL -- "-$pid" 2>/dev/null || true
        done <"$pidfile"
        : >"$pidfile"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- dependencies
need_pkgs=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx)
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
command -v taskset >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
if ((${#need_pkgs[@]})); then
    echo "installing: ${need_pkgs[*]}"
    SUDO=""
    [[ "$(id -u)" == 0 ]] || SUDO="sudo"
    # policy-rc.d exit 101 keeps the Debian nginx package from starting its own
    # service on port 80 during the install (only if no policy is in place yet).
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}"
    ((created_policy)) && $SUDO rm -f /usr/sbin/policy-rc.d
fi
NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"

if (($(nproc) < 2)); then
    echo "warning: $(nproc) CPU(s); the gateway and the load generator will share a core" >&2
fi

# ---------------------------------------------------------------- portcullis binary
if [[ -n "${PORTCULLIS_BIN:-}" ]]; then
    BIN="$PORTCULLIS_BIN"
    PREBUILT=1
else
    echo "building portcullis (release)..."
    (cd "$REPO" && cargo build --release -p portcullis)
    BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/portcullis"
fi
[[ -x "$BIN" ]] || { echo "no portcullis binary at $BIN" >&2; exit 1; }

# ---------------------------------------------------------------- run
python3 "$BENCH_DIR/auth.py" \
    --out "$OUT" --repo "$REPO" --portcullis "$BIN" --nginx "$NGINX_BIN" \
    --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" \
    --connections "${CONNECTIONS:-32}" --threads "${THREADS:-1}" \
    --proxy-core "${PROXY_CORE:-0}" --client-core "${CLIENT_CORE:-1}" --upstream-core "${UPSTREAM_CORE:-1}" \
    ${PREBUILT:+--prebuilt} ${PORTCULLIS_COMMIT:+--commit "$PORTCULLIS_COMMIT"} \
    --noise-limit "${NOISE_LIMIT:-0.15}" --retries "${RETRIES:-2}" --noise-budget "$NOISE_BUDGET" \
    --max-seconds "$MAX_SECONDS" ${SCENARIOS:+--scenarios "$SCENARIOS"} ${PERF:+--perf "$PERF"} &
DRIVER_PID=$!
wait "$DRIVER_PID"
