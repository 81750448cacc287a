#!/usr/bin/env bash
# Replays the OWASP CRS regression corpus against Portcullis's built-in
# protections; writes docs/corpus-report.md and bench/out/corpus.json.
# See bench/README.md ("CRS corpus report"). Arguments go to corpus.py
# (--help lists them); PORTCULLIS_BIN skips the build, CRS_CORPUS points at
# another crs-regression.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/corpus.py "$@"
