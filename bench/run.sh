#!/usr/bin/env bash
# Portcullis vs nginx reverse-proxy benchmark. See bench/README.md.
#
#   bench/run.sh                 # full run: 5 rounds x 5 s (about 7 minutes)
#   QUICK=1 bench/run.sh         # smoke run: 1 round x 2 s (about 1 minute)
#
# Environment (all optional):
#   PORTCULLIS_BIN   prebuilt binary to measure (default: build target/release/portcullis;
#                    CARGO_TARGET_DIR is honoured like cargo does)
#   PORTCULLIS_COMMIT  label for the commit a prebuilt binary was built from (shown in the report)
#   ROUNDS DURATION WARMUP     rounds, seconds per measured run, seconds of warm-up per run
#   CONNECTIONS THREADS        wrk -c / -t (default 32 / 1)
#   SCENARIOS TARGETS          comma lists, e.g. SCENARIOS=get_small,post_8k TARGETS=nginx,portcullis
#   PROXY_CORE CLIENT_CORE UPSTREAM_CORE   cores for taskset (default 0 / 1 / 1)
#   BENCH_PORT_BASE            first port on 127.0.0.1 (default 18100; uses +0, +100, +101, +200, +201)
#   BENCH_OUT                  output directory (default bench/out)
#   NOISE_LIMIT RETRIES NOISE_BUDGET  repeat a run when other processes or the hypervisor took more
#                              than NOISE_LIMIT cores (default 0.15), at most RETRIES times (2),
#                              spending at most NOISE_BUDGET seconds on waiting/repeats (240; QUICK: 30)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
OUT="${BENCH_OUT:-$BENCH_DIR/out}"
mkdir -p "$OUT"

# shellcheck source=bench/quick.sh
source "$BENCH_DIR/quick.sh"
ROUNDS="${ROUNDS:-$(quick_or 1 5)}"
DURATION="${DURATION:-$(quick_or 2 5)}"

EXTRA_TOOLS=(openssl)
source "$BENCH_DIR/prepare.sh"

# ---------------------------------------------------------------- certificate
CERT="$OUT/cert.pem"
KEY="$OUT/key.pem"
if [[ ! -s "$CERT" || ! -s "$KEY" ]] || ! openssl x509 -checkend 86400 -noout -in "$CERT" >/dev/null 2>&1; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$KEY" -out "$CERT" -days 30 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
    chmod 600 "$KEY"
fi

# ---------------------------------------------------------------- run
python3 "$BENCH_DIR/bench.py" \
    --out "$OUT" --repo "$REPO" --portcullis "$BIN" --nginx "$NGINX_BIN" \
    --cert "$CERT" --key "$KEY" \
    --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" \
    --connections "${CONNECTIONS:-32}" --threads "${THREADS:-1}" \
    --proxy-core "${PROXY_CORE:-0}" --client-core "${CLIENT_CORE:-1}" --upstream-core "${UPSTREAM_CORE:-1}" \
    ${PREBUILT:+--prebuilt} ${PORTCULLIS_COMMIT:+--commit "$PORTCULLIS_COMMIT"} \
    --noise-limit "${NOISE_LIMIT:-0.15}" --retries "${RETRIES:-2}" --noise-budget "$NOISE_BUDGET" \
    ${SCENARIOS:+--scenarios "$SCENARIOS"} ${TARGETS:+--targets "$TARGETS"} ${TWIN:+--twin "$TWIN"} &
DRIVER_PID=$!
wait "$DRIVER_PID"
