# Sourced first by every bench script (after it set BENCH_DIR): QUICK=1 makes
# a smoke run; quick_or gives a setting's smoke and full defaults, and the
# defaults every script shares are set here.

# $1 when QUICK=1, else $2
quick_or() { if [[ "${QUICK:-0}" == "1" ]]; then echo "$1"; else echo "$2"; fi; }

WARMUP="${WARMUP:-1}"
NOISE_BUDGET="${NOISE_BUDGET:-$(quick_or 30 240)}"
