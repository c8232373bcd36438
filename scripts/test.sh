#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test
# (unit, in-process, and end-to-end against throwaway PostgreSQL 15 servers
# the test kit starts itself on free ports — no running Postgres needed).
#
#   bash scripts/test.sh            # from anywhere inside the repo
#
# Needs the PostgreSQL 15 server and client binaries (Debian: postgresql-15,
# postgresql-client-15; or set SLUICE_PG_BINDIR). As root, the kit runs
# Postgres as the `postgres` OS user. Exits non-zero on the first failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

started=$SECONDS
step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\n*** FAILED: %s (after %ss)\n' "$1" "$((SECONDS - started))" >&2; exit 1; }

pg_bindir="${SLUICE_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
if [[ ! -x "$pg_bindir/initdb" ]] && ! command -v initdb >/dev/null 2>&1; then
    fail "PostgreSQL 15 not found in $pg_bindir: install postgresql-15 postgresql-client-15 (see .ci/run) or set SLUICE_PG_BINDIR"
fi

step "cargo fmt --all -- --check"
cargo fmt --all -- --check || fail "formatting (run: cargo fmt --all)"

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || fail "clippy"

# Build every target once, with the same feature set the tests use (so
# `cargo test` reuses it), including target/debug/sluice: the shutdown
# tests drive the real binary with real signals and must not run a stale one.
step "cargo build --workspace --all-targets"
cargo build --workspace --all-targets || fail "build"

step "cargo test --workspace"
cargo test --workspace || fail "tests"

printf '\n==> all checks passed in %ss\n' "$((SECONDS - started))"
