#!/bin/sh
# Container entrypoint, compatible with edoburu/pgbouncer's: a mounted
# /etc/pgbouncer/pgbouncer.ini (+ userlist.txt) is used as is; without one,
# an ini is generated from DATABASE_URL(S) / DB_* and upper-cased ini keys
# (POOL_MODE, DEFAULT_POOL_SIZE, …). DB_USER's password is merged into the
# auth file when it is not there yet, as edoburu does. Then `exec "$@"`.
#
# SLUICE_CONFIG_DIR (default /etc/pgbouncer) moves all of it, for tests.
set -eu

conf_dir="${SLUICE_CONFIG_DIR:-/etc/pgbouncer}"
ini="$conf_dir/pgbouncer.ini"
AUTH_FILE="${AUTH_FILE:-$conf_dir/userlist.txt}"
AUTH_TYPE="${AUTH_TYPE:-md5}"

[ -f "$AUTH_FILE" ] || { mkdir -p "$(dirname "$AUTH_FILE")"; : >"$AUTH_FILE"; }

# scheme://user:pass@host:port/dbname → DB_USER DB_PASSWORD DB_HOST DB_PORT DB_NAME
parse_url() {
    rest="${1#*://}"
    case "$rest" in
        *@*) creds="${rest%%@*}"; rest="${rest#*@}"
             DB_USER="${creds%%:*}"
             case "$creds" in *:*) DB_PASSWORD="${creds#*:}" ;; esac ;;
    esac
    hostport="${rest%%/*}"
    case "$rest" in */*) DB_NAME="${rest#*/}"; DB_NAME="${DB_NAME%%\?*}" ;; esac
    DB_HOST="${hostport%%:*}"
    case "$hostport" in *:*) DB_PORT="${hostport#*:}" ;; esac
}

# Append DB_USER to the auth file unless present: plain for plain/scram
# (Sluice derives the SCRAM exchange from it), md5 hash otherwise.
add_user() {
    [ -n "${DB_USER:-}" ] && [ -n "${DB_PASSWORD:-}" ] || return 0
    grep -q "^\"$DB_USER\" " "$AUTH_FILE" 2>/dev/null && return 0
    case "$AUTH_TYPE" in
        plain|scram-sha-256) secret="$DB_PASSWORD" ;;
        *) secret="md5$(printf '%s%s' "$DB_PASSWORD" "$DB_USER" | md5sum | cut -d' ' -f1)" ;;
    esac
    printf '"%s" "%s"\n' "$DB_USER" "$secret" >>"$AUTH_FILE"
}

db_lines=""
add_db() {
    [ -n "${DB_HOST:-}" ] || { echo "entrypoint: DB_HOST (or DATABASE_URL) is required to generate $ini" >&2; exit 1; }
    db_lines="$db_lines${DB_NAME:-*} = host=$DB_HOST port=${DB_PORT:-5432}${DB_NAME:+ dbname=$DB_NAME}
"
}

if [ -n "${DATABASE_URLS:-}" ]; then
    old_ifs="$IFS"; IFS=','
    for url in $DATABASE_URLS; do
        IFS="$old_ifs"
        DB_USER=""; DB_PASSWORD=""; DB_NAME=""; DB_PORT=""
        parse_url "$url"; add_user; add_db
    done
    IFS="$old_ifs"
else
    [ -n "${DATABASE_URL:-}" ] && parse_url "$DATABASE_URL"
    add_user
    [ -f "$ini" ] || add_db
fi

if [ ! -f "$ini" ]; then
    {
        echo "[databases]"
        printf '%s' "$db_lines"
        echo
        echo "[pgbouncer]"
        echo "listen_addr = ${LISTEN_ADDR:-0.0.0.0}"
        echo "listen_port = ${LISTEN_PORT:-5432}"
        echo "unix_socket_dir = ${UNIX_SOCKET_DIR:-}"
        echo "auth_file = $AUTH_FILE"
        echo "auth_type = $AUTH_TYPE"
        echo "admin_users = ${ADMIN_USERS:-postgres}"
        echo "ignore_startup_parameters = ${IGNORE_STARTUP_PARAMETERS:-extra_float_digits}"
        # Every other key is written only when its upper-cased variable is set.
        for key in stats_users pool_mode max_client_conn default_pool_size min_pool_size \
            reserve_pool_size reserve_pool_timeout max_db_connections max_user_connections \
            max_prepared_statements server_reset_query server_reset_query_always \
            server_check_delay server_check_query server_lifetime server_idle_timeout \
            server_connect_timeout server_login_retry client_login_timeout query_timeout \
            query_wait_timeout client_idle_timeout idle_transaction_timeout log_connections \
            log_disconnections log_pooler_errors log_stats stats_period verbose logfile \
            application_name_add_host disable_pqexec metrics_addr; do
            var=$(echo "$key" | tr 'a-z' 'A-Z')
            eval "val=\${$var:-}"
            [ -n "$val" ] && echo "$key = $val"
        done
        # edoburu writes POOL_SIZE as a global key; it means default_pool_size.
        [ -n "${POOL_SIZE:-}" ] && [ -z "${DEFAULT_POOL_SIZE:-}" ] && echo "default_pool_size = $POOL_SIZE"
        true
    } >"$ini"
    echo "entrypoint: generated $ini:"
    sed 's/password=[^ ]*/password=***/' "$ini"
fi

exec "$@"
