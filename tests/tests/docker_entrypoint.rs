//! The container entrypoint (docker/entrypoint.sh) turns edoburu-style
//! environment variables into a pgbouncer.ini and userlist.txt that Sluice
//! serves from: generated from DATABASE_URL against the real test
//! Postgres, then used by Sluice for a SCRAM login through the pool.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use sluice_config::PoolMode;
use sluice_tests::clients::{first_value, try_connect};
use sluice_tests::pg::{PgServer, ROLE_SCRAM, TEST_DB};
use sluice_tests::sluice::{temp_dir, TestSluice};

fn run_entrypoint(config_dir: &Path, env: &[(&str, String)]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/entrypoint.sh");
    let mut cmd = Command::new("sh");
    cmd.arg(&script)
        .arg("true")
        .env("SLUICE_CONFIG_DIR", config_dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "entrypoint failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_config_serves_a_scram_login() {
    let pg = PgServer::shared();
    let dir = temp_dir("entrypoint");
    let password = ROLE_SCRAM.password.unwrap();
    let url = format!(
        "postgres://{}:{password}@127.0.0.1:{}/{TEST_DB}?sslmode=disable",
        ROLE_SCRAM.name,
        pg.port()
    );
    let printed = run_entrypoint(
        &dir,
        &[
            ("DATABASE_URL", url),
            ("AUTH_TYPE", "scram-sha-256".into()),
            ("POOL_MODE", "transaction".into()),
            ("DEFAULT_POOL_SIZE", "3".into()),
            ("ADMIN_USERS", ROLE_SCRAM.name.into()),
        ],
    );
    // The generated file is shown in the log, with no password in it.
    assert!(printed.contains("pool_mode = transaction"), "{printed}");
    assert!(!printed.contains(password), "{printed}");

    let ini = std::fs::read_to_string(dir.join("pgbouncer.ini")).unwrap();
    let loaded = sluice_config::load(&dir.join("pgbouncer.ini")).unwrap();
    let general = &loaded.config.general;
    assert_eq!(general.pool_mode, PoolMode::Transaction);
    assert_eq!(general.default_pool_size, 3);
    assert_eq!(general.listen_port, 5432);
    let db = loaded
        .config
        .databases
        .iter()
        .find(|d| d.name == TEST_DB)
        .expect("database entry");
    assert_eq!(db.port, pg.port());

    // A second run keeps the ini and does not duplicate the user.
    run_entrypoint(
        &dir,
        &[(
            "DATABASE_URL",
            format!("postgres://{}:{password}@127.0.0.1/x", ROLE_SCRAM.name),
        )],
    );
    let userlist = std::fs::read_to_string(dir.join("userlist.txt")).unwrap();
    assert_eq!(userlist.lines().count(), 1, "{userlist}");
    assert_eq!(
        std::fs::read_to_string(dir.join("pgbouncer.ini")).unwrap(),
        ini
    );

    // Sluice serves from exactly these files (listen_port is ignored
    // in-process; the kit binds port 0).
    let sluice = TestSluice::start(&ini, &userlist).await;
    let client = try_connect(
        "127.0.0.1",
        sluice.port,
        ROLE_SCRAM.name,
        Some(password),
        TEST_DB,
    )
    .await
    .unwrap();
    let rows = client.simple_query("SELECT current_user").await.unwrap();
    assert_eq!(first_value(&rows), ROLE_SCRAM.name);
    let _ = std::fs::remove_dir_all(&dir);
}
