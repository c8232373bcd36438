#!/usr/bin/env bash
# Load bench: Sluice vs PgBouncer vs direct PostgreSQL 15 under pgbench.
#
#   bash benches/loadbench.sh --quick          # ~3 minutes: load + latency
#   bash benches/loadbench.sh --full           # every case, callgrind, idle RSS
#   bash benches/loadbench.sh --quick --phases callgrind,idle
#   bash benches/loadbench.sh --quick --phases tls   # ~5 minutes: TLS on the client leg
#
# Builds the release `sluice` and the `idleclients` helper if they are
# missing (set SLUICE_BENCH_REBUILD=1 to rebuild), raises the open-files
# limit, then runs benches/loadbench.py (see its --help). PgBouncer is found
# on PATH, /usr/sbin or $PGBOUNCER. Never run from CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [[ ! -x target/release/sluice || -n "${SLUICE_BENCH_REBUILD:-}" ]]; then
    cargo build --release -p sluice
fi
if [[ ! -x target/debug/idleclients || -n "${SLUICE_BENCH_REBUILD:-}" ]]; then
    cargo build -p sluice-benches --bin idleclients
fi
ulimit -n "$(ulimit -Hn)"
exec python3 benches/loadbench.py "$@"
