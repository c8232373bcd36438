use std::path::Path;
use std::time::Duration;

use super::*;
use crate::{AuthType, PoolMode};

#[test]
fn typed_values_and_units() {
    let c = toml(
        r#"
[sluice]
listen_addr = ["*"]
admin_users = "admin, ops"
stats_users = []
unix_socket_mode = 0o700
server_lifetime = "1h"
server_idle_timeout = 90
query_wait_timeout = 2.5
reserve_pool_timeout = "500ms"
client_login_timeout = "1min"
autodb_idle_timeout = "1d"
cancel_wait_timeout = "250us"
stats_period = "2min"
log_stats = false
log_connections = 0
server_round_robin = 1
auth_type = "Scram-Sha-256"
pool_mode = "TRANSACTION"
syslog = true
dns_max_ttl = "30s"
metrics_addr = "127.0.0.1:9127"
"#,
    )
    .config;
    let g = &c.general;
    assert_eq!(g.listen_addr, ["*"]);
    assert_eq!(g.admin_users, ["admin", "ops"]);
    assert!(g.stats_users.is_empty());
    assert_eq!(g.unix_socket_mode, 0o700);
    assert_eq!(g.server_lifetime, Duration::from_secs(3600));
    assert_eq!(g.server_idle_timeout, Duration::from_secs(90));
    assert_eq!(g.query_wait_timeout, Duration::from_millis(2500));
    assert_eq!(g.reserve_pool_timeout, Duration::from_millis(500));
    assert_eq!(g.client_login_timeout, Duration::from_secs(60));
    assert_eq!(g.autodb_idle_timeout, Duration::from_secs(86400));
    assert_eq!(g.cancel_wait_timeout, Duration::from_micros(250));
    assert_eq!(g.stats_period, Duration::from_secs(120));
    assert!(!g.log_stats && !g.log_connections && g.server_round_robin);
    assert_eq!(g.auth_type, AuthType::ScramSha256);
    assert_eq!(g.pool_mode, PoolMode::Transaction);
    assert_eq!(g.other.get("syslog").map(String::as_str), Some("1"));
    assert_eq!(g.metrics_addr.as_deref(), Some("127.0.0.1:9127"));
    let rows = c.settings_table();
    assert!(rows
        .iter()
        .any(|r| r.key == "dns_max_ttl" && r.value == "30"));
    assert!(rows
        .iter()
        .any(|r| r.key == "cancel_wait_timeout" && r.value == "0.00025"));
}

#[test]
fn databases_in_file_order_with_fallback_and_users() {
    let loaded = toml(
        r#"
[databases.zeta]
host = "z"
port = 6543
reserve_pool = 2

[databases."*"]
host = "fallback"

[databases.alpha]
dbname = "a b"
pool_mode = "statement"
query_wait_timeout = "15s"
server_lifetime = 30

[databases."my-db"]
host = "m"

[users.zed]
pool_size = 1
[users.amy]
pool_mode = "transaction"
idle_transaction_timeout = "30s"
"#,
    );
    assert!(loaded.warnings.is_empty());
    let c = loaded.config;
    let names: Vec<&str> = c.databases.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "my-db"]);
    assert_eq!(c.databases[0].line, 2);
    assert_eq!(c.databases[0].port, 6543);
    assert_eq!(c.databases[0].reserve_pool_size, Some(2));
    assert_eq!(c.databases[1].dbname.as_deref(), Some("a b"));
    assert_eq!(c.databases[1].pool_mode, Some(PoolMode::Statement));
    assert_eq!(
        c.databases[1].query_wait_timeout,
        Some(Duration::from_secs(15))
    );
    assert_eq!(
        c.databases[1].server_lifetime,
        Some(Duration::from_secs(30))
    );
    let fallback = c
        .fallback_database
        .clone()
        .map(|d| (d.name, d.host, d.line));
    assert_eq!(
        fallback,
        Some(("*".to_string(), Some("fallback".to_string()), 7))
    );
    let users: Vec<&str> = c.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(users, ["zed", "amy"]);
    assert_eq!(
        c.user("amy").and_then(|u| u.idle_transaction_timeout),
        Some(Duration::from_secs(30))
    );
}

/// (text, line, key, text in message)
#[test]
fn errors_name_line_and_key() {
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "[sluice]\nlisten_port = 6432\n\nlisten_prot = 1\n",
            4,
            "listen_prot",
            "unknown key in [sluice]",
        ),
        (
            "[sluice]\nlisten_port = \"6432\"\n",
            2,
            "listen_port",
            "invalid type",
        ),
        (
            "[sluice]\nlisten_port = 0\n",
            2,
            "listen_port",
            "invalid port",
        ),
        (
            "[sluice]\nmax_client_conn = -5\n",
            2,
            "max_client_conn",
            "out of range",
        ),
        (
            "[sluice]\nserver_lifetime = \"5 weeks\"\n",
            2,
            "server_lifetime",
            "unit",
        ),
        (
            "[sluice]\nserver_lifetime = -1\n",
            2,
            "server_lifetime",
            "negative",
        ),
        (
            "[sluice]\nstats_period = 1.5\n",
            2,
            "stats_period",
            "whole number",
        ),
        ("[sluice]\nlog_stats = \"yes\"\n", 2, "log_stats", "boolean"),
        (
            "[sluice]\nadmin_users = [\"a,b\"]\n",
            2,
            "admin_users",
            "comma",
        ),
        (
            "[sluice]\npool_mode = \"sometimes\"\n",
            2,
            "pool_mode",
            "invalid pool mode",
        ),
        (
            "[sluice]\nauth_type = \"hba\"\n",
            2,
            "auth_type",
            "needs auth_hba_file",
        ),
        (
            "[databases.app]\nhost = \"x\"\nsslmode = \"require\"\n",
            3,
            "sslmode",
            "unknown key in [databases.app]",
        ),
        ("[databases.app]\nport = 0\n", 2, "port", "invalid port"),
        (
            "[databases.app]\npool_mode = \"x\"\n",
            2,
            "pool_mode",
            "invalid pool mode",
        ),
        (
            "[databases.pgbouncer]\nhost = \"x\"\n",
            1,
            "pgbouncer",
            "reserved",
        ),
        (
            "[users.bob]\n\nhost = \"x\"\n",
            3,
            "host",
            "unknown key in [users.bob]",
        ),
        (
            "[users.bob]\nquery_timeout = \"soon\"\n",
            2,
            "query_timeout",
            "invalid duration",
        ),
        (
            "[pgbouncer]\nlisten_port = 1\n",
            1,
            "pgbouncer",
            "unknown key",
        ),
        ("[sluice]\nlisten_port = [\n", 2, "listen_port", ""),
    ];
    for (text, line, key, needle) in cases {
        let err = toml_err(text);
        assert_eq!(err.file, Path::new("test.toml"), "{text:?}");
        assert_eq!(err.line, Some(*line), "{text:?}: {err}");
        assert_eq!(err.key.as_deref(), Some(*key), "{text:?}: {err}");
        assert!(err.message.contains(needle), "{text:?}: {err}");
    }
}

#[test]
fn unknown_key_display() {
    let err = toml_err("# comment\n[sluice]\nlisten_port = 6432\nmax_clients = 5\n");
    assert_eq!(
        err.to_string(),
        "test.toml:4: max_clients: unknown key in [sluice]"
    );
}

#[test]
fn empty_file_is_all_defaults() {
    let loaded = toml("");
    assert_eq!(loaded.config.general, crate::General::default());
    assert!(loaded.config.databases.is_empty() && loaded.warnings.is_empty());
    // [peers] is accepted and ignored.
    assert!(toml("[peers]\n1 = { host = \"x\" }\n").warnings.is_empty());
}
