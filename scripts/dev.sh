#!/usr/bin/env bash
# One command: set everything up and run Berth on this machine (embedded
# store, data in ${BERTH_DATA_DIR:-/var/lib/berth}). Extra arguments go to
# `berth dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec ./bin/berth dev --data-dir "${BERTH_DATA_DIR:-/var/lib/berth}" "$@"
