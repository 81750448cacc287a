# What every bench script does before it runs its driver: sourced after the
# caller set BENCH_DIR, REPO and OUT (and EXTRA_TOOLS, commands whose Debian
# package has the same name, if it needs more than nginx, wrk, taskset and
# python3). It stops, on exit, everything the driver (DRIVER_PID) started;
# installs what is missing; and sets BIN to the binary to measure (built
# unless PORTCULLIS_BIN is given, then PREBUILT=1) and NGINX_BIN.

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
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
for tool in "${EXTRA_TOOLS[@]}"; do command -v "$tool" >/dev/null 2>&1 || need_pkgs+=("$tool"); done
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
