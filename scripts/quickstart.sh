#!/usr/bin/env bash
# Sluice in one command: build it, start a throwaway PostgreSQL 15 in a temp
# dir, put Sluice in front of it (config/quickstart.ini: transaction pooling,
# SCRAM pass-through), say hello through it with psql, then clean up.
#
#   bash scripts/quickstart.sh                  # the whole tour
#   bash scripts/quickstart.sh --postgres-only  # only the PostgreSQL half
#   KEEP=1 bash scripts/quickstart.sh           # leave the temp dir for a look
#   SLUICE_BIN=/path/to/sluice bash scripts/quickstart.sh   # skip the build
#
# Needs cargo and PostgreSQL 15 (Debian: postgresql-15 postgresql-client-15;
# or set SLUICE_PG_BINDIR). Uses no fixed ports and no running Postgres. As
# root, PostgreSQL runs as the `postgres` OS user (it refuses to run as root).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

postgres_only=0
case "${1:-}" in
    "") ;;
    --postgres-only) postgres_only=1 ;;
    *) echo "usage: $0 [--postgres-only]" >&2; exit 2 ;;
esac

pg_bin="${SLUICE_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
say() { printf '==> %s\n' "$*"; }
die() { printf '*** %s\n' "$*" >&2; exit 1; }

for bin in initdb pg_ctl psql; do
    [[ -x "$pg_bin/$bin" ]] || die "$pg_bin/$bin not found: install postgresql-15 postgresql-client-15, or set SLUICE_PG_BINDIR"
done

# Keep the caller's libpq settings from steering our clients elsewhere.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^PG' || true)
export PGPASSFILE=/nonexistent/sluice-no-pgpass PGCONNECT_TIMEOUT=10 PGSSLMODE=disable

# PostgreSQL refuses to run as root: run its server binaries as `postgres`.
as_pg=()
if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user"
    as_pg=(runuser -u postgres --)
fi

# Files PostgreSQL must own (no-op unless we are root).
own() { if [[ $EUID -eq 0 ]]; then chown postgres: "$@"; fi; }

tmp="$(mktemp -d /tmp/sluice-quickstart.XXXXXX)"
chmod 700 "$tmp"
own "$tmp"
data="$tmp/data"
sluice_pid=""
ok=0

cleanup() {
    set +e
    if [[ -n "$sluice_pid" ]] && kill -0 "$sluice_pid" 2>/dev/null; then
        kill -TERM "$sluice_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$sluice_pid" 2>/dev/null
        wait "$sluice_pid" 2>/dev/null
        say "stopped Sluice"
    fi
    if [[ -f "$data/postmaster.pid" ]]; then
        (cd "$tmp" && "${as_pg[@]}" "$pg_bin/pg_ctl" stop -D "$data" -m fast -w -s) >/dev/null 2>&1 \
            || (cd "$tmp" && "${as_pg[@]}" "$pg_bin/pg_ctl" stop -D "$data" -m immediate -w -s) >/dev/null 2>&1
        say "stopped PostgreSQL"
    fi
    if [[ $ok -ne 1 ]]; then
        for log in "$tmp/postgres.log" "$tmp/sluice.log"; do
            [[ -s "$log" ]] && { printf -- '--- %s ---\n' "$log" >&2; tail -n 40 "$log" >&2; }
        done
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then
        say "kept $tmp"
    else
        rm -rf "$tmp"
        say "removed $tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on right now (we retry if someone takes it first).
candidate_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 12000))
        # bash's /dev/tcp connect succeeds only if something listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# ---- 1. build ---------------------------------------------------------
sluice="${SLUICE_BIN:-$repo/target/release/sluice}"
if [[ $postgres_only -eq 0 && -z "${SLUICE_BIN:-}" ]]; then
    command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust: https://rustup.rs)"
    say "building Sluice (cargo build --release -p sluice)"
    cargo build --release -q -p sluice || die "build failed"
fi

# ---- 2. PostgreSQL ----------------------------------------------------
say "creating a throwaway PostgreSQL 15 in $tmp"
(cd "$tmp" && "${as_pg[@]}" "$pg_bin/initdb" -D "$data" -U postgres --auth=trust \
    -E UTF8 --locale=C --no-sync) >"$tmp/initdb.log" 2>&1 \
    || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
cat >>"$data/postgresql.conf" <<CONF
include 'quickstart_port.conf'
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp'
password_encryption = 'scram-sha-256'
fsync = off
log_min_messages = warning
CONF
# Over TCP the app must prove its password with SCRAM — also when it comes
# through Sluice, which answers with the keys from the client's own exchange.
cat >"$data/pg_hba.conf" <<HBA
local all all trust
host all app 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 reject
HBA
own "$data/pg_hba.conf"

pg_port=""
for _ in $(seq 20); do
    port="$(candidate_port)"
    echo "port = $port" >"$data/quickstart_port.conf"
    own "$data/quickstart_port.conf"
    rm -f "$tmp/postgres.log"
    if (cd "$tmp" && "${as_pg[@]}" "$pg_bin/pg_ctl" start -D "$data" -l "$tmp/postgres.log" -w -t 60 -s) \
        >/dev/null 2>&1 </dev/null; then
        pg_port=$port
        break
    fi
    grep -q 'Address already in use' "$tmp/postgres.log" || die "PostgreSQL did not start"
done
[[ -n "$pg_port" ]] || die "PostgreSQL found no free port"
say "PostgreSQL is up on 127.0.0.1:$pg_port"

super() { "$pg_bin/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$pg_port" -U postgres -d postgres "$@"; }
super -c "CREATE ROLE app LOGIN PASSWORD 'app'" >/dev/null || die "could not create role app"
secret="$(super -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")"
[[ "$secret" == SCRAM-SHA-256\$* ]] || die "unexpected secret for app: $secret"
printf '"app" "%s"\n' "$secret" >"$tmp/userlist.txt"
chmod 600 "$tmp/userlist.txt"
say "created role app; its SCRAM secret (not its password) is in $tmp/userlist.txt"

greeting="SELECT 'hello through sluice' AS greeting, version()"

if [[ $postgres_only -eq 1 ]]; then
    say "psql -h 127.0.0.1 -p $pg_port -U app postgres  (straight to PostgreSQL)"
    PGPASSWORD=app "$pg_bin/psql" -X -h 127.0.0.1 -p "$pg_port" -U app -d postgres \
        -v ON_ERROR_STOP=1 -c "$greeting" || die "psql failed"
    ok=1
    exit 0
fi

# ---- 3. Sluice --------------------------------------------------------
[[ -x "$sluice" ]] || die "$sluice not built"
sluice_port=""
for _ in $(seq 10); do
    port="$(candidate_port)"
    sed -e "s|@DIR@|$tmp|g" -e "s|@LISTEN_PORT@|$port|g" -e "s|@PG_PORT@|$pg_port|g" \
        config/quickstart.ini >"$tmp/sluice.ini"
    "$sluice" "$tmp/sluice.ini" >"$tmp/sluice.log" 2>&1 </dev/null &
    sluice_pid=$!
    # Ready once it accepts TCP connections; give up if it exits.
    for _ in $(seq 300); do
        if ! kill -0 "$sluice_pid" 2>/dev/null; then break; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then sluice_port=$port; break; fi
        sleep 0.1
    done
    [[ -n "$sluice_port" ]] && break
    if kill -0 "$sluice_pid" 2>/dev/null; then die "Sluice did not accept connections within 30s"; fi
    wait "$sluice_pid" 2>/dev/null || true
    sluice_pid=""
    grep -qi 'address already in use\|address in use' "$tmp/sluice.log" || die "Sluice exited"
done
[[ -n "$sluice_port" ]] || die "Sluice found no free port"
say "Sluice is up on 127.0.0.1:$sluice_port (config: $tmp/sluice.ini)"

# ---- 4. hello ---------------------------------------------------------
say "psql -h 127.0.0.1 -p $sluice_port -U app quickstart  (through Sluice)"
PGPASSWORD=app "$pg_bin/psql" -X -h 127.0.0.1 -p "$sluice_port" -U app -d quickstart \
    -v ON_ERROR_STOP=1 -c "$greeting" || die "psql through Sluice failed"

say "psql -h 127.0.0.1 -p $sluice_port -U app pgbouncer -c 'SHOW POOLS'  (the admin console)"
PGPASSWORD=app "$pg_bin/psql" -X -h 127.0.0.1 -p "$sluice_port" -U app -d pgbouncer \
    -v ON_ERROR_STOP=1 -c "SHOW POOLS" || die "admin console through Sluice failed"
ok=1
