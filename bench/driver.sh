# The part of bench/policies.sh and bench/auth.sh that is the same: sourced
# after the caller set BENCH_DIR, REPO, OUT, ROUNDS, DURATION, WARMUP,
# NOISE_BUDGET, MAX_SECONDS, and
#   DRIVER_PY    the Python driver in bench/ to run
#   EXTRA_TOOLS  commands (Debian package of the same name) the driver needs
#   DRIVER_ARGS  further arguments for the driver
# It prepares what bench/prepare.sh prepares, then runs the driver.

source "$BENCH_DIR/prepare.sh"

# ---------------------------------------------------------------- run
python3 "$BENCH_DIR/$DRIVER_PY" \
    --out "$OUT" --repo "$REPO" --portcullis "$BIN" --nginx "$NGINX_BIN" \
    --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" \
    --connections "${CONNECTIONS:-32}" --threads "${THREADS:-1}" \
    --proxy-core "${PROXY_CORE:-0}" --client-core "${CLIENT_CORE:-1}" --upstream-core "${UPSTREAM_CORE:-1}" \
    ${PREBUILT:+--prebuilt} ${PORTCULLIS_COMMIT:+--commit "$PORTCULLIS_COMMIT"} \
    --noise-limit "${NOISE_LIMIT:-0.15}" --retries "${RETRIES:-2}" --noise-budget "$NOISE_BUDGET" \
    --max-seconds "$MAX_SECONDS" ${SCENARIOS:+--scenarios "$SCENARIOS"} ${TWIN:+--twin "$TWIN"} ${TWIN_BIN:+--twin-bin "$TWIN_BIN"} "${DRIVER_ARGS[@]}" &
DRIVER_PID=$!
wait "$DRIVER_PID"
