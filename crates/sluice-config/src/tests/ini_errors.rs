use super::*;

/// Every error path: (file text, expected line, expected key, text in message).
#[test]
fn each_error_has_its_line_and_key() {
    let cases: &[(&str, usize, Option<&str>, &str)] = &[
        (
            "[pgbouncer]\n\nlisten_port = abc\n",
            3,
            Some("listen_port"),
            "invalid port",
        ),
        (
            "[pgbouncer]\nlisten_port = 70000\n",
            2,
            Some("listen_port"),
            "invalid port",
        ),
        (
            "[pgbouncer]\nmax_client_conn = -1\n",
            2,
            Some("max_client_conn"),
            "out of range",
        ),
        (
            "[pgbouncer]\ndefault_pool_size = lots\n",
            2,
            Some("default_pool_size"),
            "invalid integer",
        ),
        (
            "[pgbouncer]\nserver_lifetime = 10s\n",
            2,
            Some("server_lifetime"),
            "invalid time",
        ),
        (
            "[pgbouncer]\nquery_timeout = -1\n",
            2,
            Some("query_timeout"),
            "invalid time",
        ),
        (
            "[pgbouncer]\nstats_period = 1.5\n",
            2,
            Some("stats_period"),
            "invalid integer",
        ),
        (
            "[pgbouncer]\nlog_stats = maybe\n",
            2,
            Some("log_stats"),
            "invalid boolean",
        ),
        (
            "[pgbouncer]\npool_mode = sometimes\n",
            2,
            Some("pool_mode"),
            "invalid pool mode",
        ),
        (
            "[pgbouncer]\nauth_type = kerberos\n",
            2,
            Some("auth_type"),
            "invalid auth_type",
        ),
        (
            "[pgbouncer]\nauth_type = pam\n",
            2,
            Some("auth_type"),
            "not supported",
        ),
        (
            "[pgbouncer]\nserver_tls_sslmode = always\n",
            2,
            Some("server_tls_sslmode"),
            "invalid sslmode",
        ),
        (
            "[pgbouncer]\npeer_id = 20000\n",
            2,
            Some("peer_id"),
            "invalid peer_id",
        ),
        (
            "[pgbouncer]\nverbose = 300\n",
            2,
            Some("verbose"),
            "out of range",
        ),
        (
            "[pgbouncer]\ndns_max_ttl = soon\n",
            2,
            Some("dns_max_ttl"),
            "invalid time",
        ),
        (
            "[pgbouncer]\nsyslog = perhaps\n",
            2,
            Some("syslog"),
            "invalid boolean",
        ),
        ("[pgbouncer]\nfoo bar = 1\n", 2, None, "syntax error"),
        ("[pgbouncer]\n= 1\n", 2, None, "syntax error"),
        ("[pgbouncer]\nlisten_port\n", 2, None, "syntax error"),
        ("[pgbouncer\nlisten_port = 1\n", 1, None, "syntax error"),
        ("\"open = host=x\n", 1, None, "syntax error"),
        ("; c\nlisten_port = 1\n", 2, None, "value without section"),
        (
            "[databases]\n\napp = host=x sslmode=require\n",
            3,
            Some("sslmode"),
            "unrecognized connection parameter: sslmode",
        ),
        (
            "[databases]\napp = host='x\n",
            2,
            Some("app"),
            "unterminated quote",
        ),
        ("[databases]\napp = host\n", 2, Some("app"), "expected '='"),
        (
            "[databases]\napp = port=0\n",
            2,
            Some("port"),
            "invalid port",
        ),
        (
            "[databases]\napp = pool_size=x\n",
            2,
            Some("pool_size"),
            "invalid value for pool_size",
        ),
        (
            "[databases]\napp = pool_mode=x\n",
            2,
            Some("pool_mode"),
            "invalid pool mode",
        ),
        (
            "[databases]\npgbouncer = host=x\n",
            2,
            Some("pgbouncer"),
            "reserved",
        ),
        ("[databases]\n\"\" = host=x\n", 2, None, "syntax error"),
        (
            "[users]\nbob = host=x\n",
            2,
            Some("host"),
            "unrecognized user parameter: host",
        ),
        (
            "[users]\nbob = query_timeout=soon\n",
            2,
            Some("query_timeout"),
            "invalid value",
        ),
        ("[users]\nbob = pool_mode\n", 2, Some("bob"), "expected '='"),
        (
            "[pgbouncer]\n%include /nonexistent/sluice/x.ini\n",
            2,
            None,
            "cannot read included file",
        ),
        // Cross-key checks point at the deciding key's line.
        (
            "[pgbouncer]\nlisten_port = 1\nauth_type = hba\n",
            3,
            Some("auth_type"),
            "needs auth_hba_file",
        ),
        (
            "[pgbouncer]\nauth_type = cert\nclient_tls_sslmode = require\n",
            2,
            Some("auth_type"),
            "needs client_tls_key_file",
        ),
        (
            "[pgbouncer]\nclient_tls_sslmode = require\nclient_tls_key_file = /k\n",
            2,
            Some("client_tls_sslmode"),
            "client_tls_cert_file",
        ),
        (
            "[pgbouncer]\nauth_type = cert\nclient_tls_key_file = /k\nclient_tls_cert_file = /c\n",
            2,
            Some("auth_type"),
            "needs client_tls_sslmode = verify-ca or verify-full",
        ),
        (
            "[pgbouncer]\nclient_tls_sslmode = verify-ca\nclient_tls_key_file = /k\nclient_tls_cert_file = /c\n",
            2,
            Some("client_tls_sslmode"),
            "needs client_tls_ca_file",
        ),
        (
            "[pgbouncer]\nserver_tls_key_file = /k\n",
            2,
            Some("server_tls_key_file"),
            "set together",
        ),
    ];
    for (text, line, key, needle) in cases {
        let err = ini_err(text);
        assert_eq!(err.file, Path::new("test.ini"), "{text:?}");
        assert_eq!(err.line, Some(*line), "{text:?}: {err}");
        assert_eq!(err.key.as_deref(), *key, "{text:?}: {err}");
        assert!(err.message.contains(needle), "{text:?}: {err}");
    }
}

#[test]
fn error_display_is_file_line_key_message() {
    let err = ini_err("[pgbouncer]\nlisten_port = abc\n");
    assert_eq!(
        err.to_string(),
        "test.ini:2: listen_port: invalid port: abc (expected 1..65535)"
    );
}

#[test]
fn checks_that_pass() {
    // auth_file missing with md5 is fine (PgBouncer allows it).
    assert!(crate::parse_ini("[pgbouncer]\nauth_type = md5\n", Path::new("x")).is_ok());
    let hba = ini("[pgbouncer]\nauth_type = hba\nauth_hba_file = /etc/hba.conf\n");
    assert_eq!(
        hba.config.general.auth_hba_file.as_deref(),
        Some(Path::new("/etc/hba.conf"))
    );
    let cert = ini("[pgbouncer]\nauth_type = cert\nclient_tls_key_file = /k\nclient_tls_cert_file = /c\nclient_tls_ca_file = /ca\nclient_tls_sslmode = verify-full\n");
    assert!(cert.warnings.is_empty());
    let auth_db = ini("[pgbouncer]\nauth_dbname = nowhere\n[databases]\na = host=x\n");
    assert!(auth_db
        .warnings
        .iter()
        .any(|w| w.message.contains("auth_dbname")));
    let auth_db_ok = ini("[pgbouncer]\nauth_dbname = a\n[databases]\na = host=x\n");
    assert!(auth_db_ok.warnings.is_empty());
}
