//! The control plane without the console: what the signals and
//! `Sluice` call must refuse and accept exactly as the console reports.

use super::*;

fn shared(ini: &str) -> Arc<Shared> {
    let loaded = sluice_config::parse_ini(ini, std::path::Path::new("test.ini")).expect("ini");
    Shared::new(crate::Settings::from_loaded(&loaded, Default::default()).expect("settings"))
}

fn text(e: PoolerError) -> String {
    e.message().into_owned()
}

#[tokio::test]
async fn pause_resume_and_shutdown_refusals() {
    let shared = shared("[databases]\ndb = host=127.0.0.1\n");
    assert!(is_ready(&shared));
    pause::pause(&shared, None).await.expect("nothing to drain");
    assert!(!is_ready(&shared) && shared.control.is_paused("db"));
    let again = pause::pause(&shared, Some("db")).await.expect_err("held");
    assert_eq!(text(again), "already suspended/paused");
    pause::resume(&shared, None).expect("was paused");
    assert_eq!(
        text(pause::resume(&shared, None).expect_err("not paused")),
        "pooler is not paused/suspended"
    );
    assert_eq!(
        text(pause::resume(&shared, Some("nope")).expect_err("unknown")),
        "no such database: nope"
    );
    shutdown::shutdown(&shared, RunState::WaitForClients);
    assert!(!is_ready(&shared));
    assert_eq!(
        text(pause::resume(&shared, None).expect_err("stopping")),
        "pooler is shutting down"
    );
}

#[tokio::test]
async fn disable_kill_and_admin_db() {
    let shared = shared("[databases]\ndb = host=127.0.0.1\n");
    pause::set_disabled(&shared, "db", true).expect("known");
    assert!(shared.control.is_disabled("db"));
    pause::set_disabled(&shared, "db", false).expect("known");
    assert!(!shared.control.is_disabled("db"));
    assert_eq!(
        text(kill::kill(&shared, Some("pgbouncer")).expect_err("console")),
        "cannot kill admin db: pgbouncer"
    );
    kill::kill(&shared, Some("db")).expect("known");
    assert!(shared.control.is_paused("db") && !shared.control.paused_all());
    assert_eq!(
        text(kill::kill_client(&shared, 42).expect_err("nobody")),
        "client not found"
    );
}

#[test]
fn set_goes_through_the_key_table() {
    let shared = shared("[databases]\ndb = host=127.0.0.1\n");
    reload::set(&shared, "default_pool_size", "3").expect("reloadable");
    assert_eq!(shared.settings().config.general.default_pool_size, 3);
    reload::set(&shared, "dns_max_ttl", "30").expect("reloadable in PgBouncer");
    for fixed in [
        "listen_port",
        "unix_socket_dir",
        "pidfile",
        "user",
        "metrics_addr",
    ] {
        let e = reload::set(&shared, fixed, "1").expect_err(fixed);
        assert_eq!(text(e), "SET failed", "{fixed}");
    }
    assert_eq!(shared.settings().config.general.default_pool_size, 3);
}
