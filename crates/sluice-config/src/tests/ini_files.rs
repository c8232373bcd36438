use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::{AuthType, PoolMode};

#[test]
fn every_section_and_key_form() {
    let loaded = ini(concat!(
        "; comment\n",                                                  // 1
        "# another comment\n",                                          // 2
        "   [databases]\n",                                             // 3
        "app = host=db1 port=5433 dbname=appdb\n",                      // 4
        "\"my-db\" = host='/var/run/postgresql' dbname='it''s here'\n", // 5
        "dotted.name-1 = host=x application_name=\"a \"\"b\"\"\"\n",    // 6
        "* = host=fallback port=6000\n",                                // 7
        "\n",                                                           // 8
        "[users]\n",                                                    // 9
        "bob = pool_mode=Transaction pool_size=3 query_timeout=1.5\n",  // 10
        "[peers]\n",                                                    // 11
        "1 = host=10.0.0.1 port=6432\n",                                // 12
        "[pgbouncer]\n",                                                // 13
        "listen_addr = 127.0.0.1, ::1\n",                               // 14
        "listen_port = 0x1940\n",                                       // 15
        "unix_socket_mode = 0700\n",                                    // 16
        "auth_type = SCRAM-SHA-256\n",                                  // 17
        "pool_mode = Statement\n",                                      // 18
        "server_lifetime = 1.5\n",                                      // 19
        "stats_period = 30\n",                                          // 20
        "log_connections = off\n",                                      // 21
        "server_check_query =\n",                                       // 22
        "dns_max_ttl = 20.0\n",                                         // 23
        "admin_users = admin , root\n",                                 // 24
        "metrics_addr = 127.0.0.1:9127\n",                              // 25
        "tcp_keepalive=0\n",                                            // 26
        "\tauth_file = /etc/pgbouncer/userlist.txt   \n",               // 27
        "server_reset_query = DISCARD ALL; -- not a comment\n",         // 28
    ));
    assert_eq!(loaded.warnings, vec![]);
    let c = loaded.config;
    let names: Vec<&str> = c.databases.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["app", "my-db", "dotted.name-1"]);
    let app = c
        .database("app")
        .cloned()
        .unwrap_or_else(|| Database::new("?"));
    assert_eq!(
        (
            app.host.as_deref(),
            app.port,
            app.dbname.as_deref(),
            app.line
        ),
        (Some("db1"), 5433, Some("appdb"), 4)
    );
    let my = c
        .database("my-db")
        .cloned()
        .unwrap_or_else(|| Database::new("?"));
    assert_eq!(my.dbname.as_deref(), Some("it's here"));
    assert_eq!(my.host.as_deref(), Some("/var/run/postgresql"));
    assert_eq!(c.databases[2].application_name.as_deref(), Some("a \"b\""));
    let fallback = c
        .fallback_database
        .clone()
        .unwrap_or_else(|| Database::new("?"));
    assert_eq!(
        (
            fallback.name.as_str(),
            fallback.host.as_deref(),
            fallback.port,
            fallback.line
        ),
        ("*", Some("fallback"), 6000, 7)
    );
    assert!(c.database("*").is_none());
    let bob = c.user("bob").cloned().unwrap_or_default();
    assert_eq!(bob.pool_mode, Some(PoolMode::Transaction));
    assert_eq!(bob.pool_size, Some(3));
    assert_eq!(bob.query_timeout, Some(Duration::from_millis(1500)));

    let g = &c.general;
    assert_eq!(g.listen_addr, ["127.0.0.1", "::1"]);
    assert_eq!(g.listen_port, 6464);
    assert_eq!(g.unix_socket_mode, 0o700);
    assert_eq!(g.auth_type, AuthType::ScramSha256);
    assert_eq!(g.pool_mode, PoolMode::Statement);
    assert_eq!(g.server_lifetime, Duration::from_millis(1500));
    assert_eq!(g.stats_period, Duration::from_secs(30));
    assert!(!g.log_connections);
    assert_eq!(g.server_check_query, "");
    assert_eq!(g.other.get("dns_max_ttl").map(String::as_str), Some("20.0"));
    assert_eq!(g.admin_users, ["admin", "root"]);
    assert_eq!(g.metrics_addr.as_deref(), Some("127.0.0.1:9127"));
    assert!(!g.tcp_keepalive);
    assert_eq!(
        g.auth_file.as_deref(),
        Some(Path::new("/etc/pgbouncer/userlist.txt"))
    );
    assert_eq!(g.server_reset_query, "DISCARD ALL; -- not a comment");
    assert_eq!(c.source, Path::new("test.ini"));

    let rows = c.settings_table();
    let show = |k: &str| {
        rows.iter()
            .find(|r| r.key == k)
            .map(|r| r.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(show("listen_addr"), "127.0.0.1,::1");
    assert_eq!(show("server_lifetime"), "1.5");
    assert_eq!(show("dns_max_ttl"), "20");
    assert_eq!(show("auth_type"), "scram-sha-256");
    assert_eq!(show("unix_socket_mode"), "448");
    assert_eq!(show("log_connections"), "0");
    assert_eq!(show("conffile"), "test.ini");
    assert_eq!(rows.len(), 100);
    assert!(rows.windows(2).all(|w| w[0].key < w[1].key));
}

use crate::Database;

#[test]
fn crlf_and_trailing_text_after_header() {
    let c = ini("[pgbouncer] listen_port = 7000\r\npool_mode = transaction\r\n[databases] ; note\r\na = host=h\r\n").config;
    assert_eq!(c.general.listen_port, 7000);
    assert_eq!(c.general.pool_mode, PoolMode::Transaction);
    assert_eq!(c.databases[0].host.as_deref(), Some("h"));
}

#[test]
fn warnings_have_file_and_line() {
    let loaded = ini("[pgbouncer]\nlisten_port = 6000\nfoo = 1\nListen_Port = 1\n[extra]\nx = y\n[databases]\na = host=1\na = host=2\n");
    let text: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "test.ini:3: unknown parameter: pgbouncer/foo",
            "test.ini:4: unknown parameter: pgbouncer/Listen_Port",
            "test.ini:5: unknown section: extra (its lines are ignored)",
            "test.ini:9: database \"a\" defined again (first at line 8); this definition wins",
        ]
    );
    assert_eq!(loaded.config.general.listen_port, 6000);
    assert_eq!(loaded.config.databases.len(), 1);
    assert_eq!(loaded.config.databases[0].host.as_deref(), Some("2"));
    assert_eq!(loaded.config.databases[0].line, 9);
}

#[test]
fn missing_main_section_warns() {
    let loaded = ini("[databases]\na = host=x\n");
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].message.contains("[pgbouncer] missing"));
    assert_eq!(loaded.config.databases.len(), 1);
}

#[test]
fn repeated_main_section_resets_like_pgbouncer() {
    let loaded = ini("[pgbouncer]\nlisten_port = 7000\npool_mode = transaction\n[databases]\n[pgbouncer]\nmax_client_conn = 5\n");
    let g = &loaded.config.general;
    assert_eq!(g.listen_port, 6432, "reset to default");
    assert_eq!(g.pool_mode, PoolMode::Session, "reset to default");
    assert_eq!(g.max_client_conn, 5);
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].line, 5);
    // No warning when nothing had been set yet.
    assert!(ini("[pgbouncer]\n[pgbouncer]\nlisten_port = 1\n")
        .warnings
        .is_empty());
}

/// `rel` relative to the current directory, going up to the root.
fn relative_to_cwd(target: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut rel = PathBuf::new();
    for c in cwd.components() {
        if matches!(c, Component::Normal(_)) {
            rel.push("..");
        }
    }
    for c in target.components() {
        if let Component::Normal(part) = c {
            rel.push(part);
        }
    }
    rel
}

#[test]
fn include_carries_section_and_resolves_against_cwd() {
    let inner = write_temp("inner.ini", "b = host=two\n[users]\ncarol = pool_size=4\n");
    let middle = write_temp(
        "middle.ini",
        &format!(
            "[pgbouncer]\nmax_client_conn = 500\n[databases]\n%include {}\n",
            inner.display()
        ),
    );
    let rel = relative_to_cwd(&middle);
    assert!(rel.is_relative());
    let main = format!(
        "[databases]\na = host=one\n%include {}\ndave = pool_size=1\n",
        rel.display()
    );
    let loaded = ini(&main);
    let c = &loaded.config;
    assert_eq!(c.general.max_client_conn, 500);
    let names: Vec<&str> = c.databases.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    // The section set inside the include ([users]) is still in force after it.
    let users: Vec<&str> = c.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(users, ["carol", "dave"]);
    assert_eq!(c.databases[1].line, 1, "line within the included file");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn include_is_not_relative_to_the_including_file() {
    let inner = write_temp("sibling.ini", "[pgbouncer]\n");
    let name = inner
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let outer = write_temp("outer.ini", &format!("[pgbouncer]\n%include {name}\n"));
    let err = crate::load(&outer)
        .err()
        .unwrap_or_else(|| panic!("included a sibling by bare name"));
    assert_eq!(err.file, outer);
    assert_eq!(err.line, Some(2));
    assert!(err.message.contains("cannot read included file"), "{err}");
}

#[test]
fn error_inside_include_names_that_file() {
    let inner = write_temp("bad.ini", "\n\nlisten_port = nope\n");
    let err = ini_err(&format!("[pgbouncer]\n%include {}\n", inner.display()));
    assert_eq!(err.file, inner);
    assert_eq!(err.line, Some(3));
    assert_eq!(err.key.as_deref(), Some("listen_port"));
}

#[test]
fn include_nesting_is_limited() {
    let path = temp_path("loop.ini");
    std::fs::write(&path, format!("%include {}\n", path.display())).unwrap_or_default();
    let err = ini_err(&format!("[pgbouncer]\n%include {}\n", path.display()));
    assert!(err.message.contains("too deep"), "{err}");
    assert_eq!(err.file, path);
}

#[test]
fn percent_include_needs_a_blank() {
    let err = ini_err("[pgbouncer]\n%includefoo\n");
    assert_eq!(err.line, Some(2));
    assert!(err.message.contains("syntax error"));
}

#[test]
fn load_picks_reader_by_extension() {
    let ini_path = write_temp("by-ext.ini", "[pgbouncer]\nlisten_port = 7001\n");
    let toml_path = write_temp("by-ext.toml", "[sluice]\nlisten_port = 7002\n");
    let conf_path = write_temp("by-ext.conf", "[pgbouncer]\nlisten_port = 7003\n");
    let port = |p: &Path| {
        crate::load(p)
            .map(|l| l.config.general.listen_port)
            .unwrap_or(0)
    };
    assert_eq!(port(&ini_path), 7001);
    assert_eq!(port(&toml_path), 7002);
    assert_eq!(port(&conf_path), 7003);
    assert_eq!(
        crate::load(&toml_path).map(|l| l.config.source).ok(),
        Some(toml_path)
    );
    let missing = temp_path("missing.ini");
    let err = crate::load(&missing).err();
    assert!(err.is_some_and(|e| e.file == missing && e.line.is_none()));
}
