//! The same pgbouncer.ini works with Sluice and with a real PgBouncer
//! (Debian's package, where installed): one ini text, a typical
//! docker-compose user's settings, both poolers started on it, and the
//! same client scenario run through each with the same answers.
#![allow(clippy::unwrap_used)]

use sluice_tests::clients::{first_value, sqlstate, try_connect};
use sluice_tests::pg::{free_port, PgServer, ROLE_SCRAM, TEST_DB};
use sluice_tests::pgbouncer::{pgbouncer_binary, PgBouncer};
use sluice_tests::sluice::{temp_dir, TestSluice};
use tokio_postgres::SimpleQueryMessage;

const HOST: &str = "127.0.0.1";

/// What a PgBouncer user typically runs with: transaction pooling, the
/// usual limits, SCRAM secrets in userlist.txt (pass-through to Postgres),
/// admin and stats users. `{dir}` is the instance's own directory.
fn typical_ini(pg: &PgServer, listen_port: u16) -> String {
    format!(
        "[databases]\n\
         appdb = host=127.0.0.1 port={pg_port} dbname={TEST_DB}\n\
         small = host=127.0.0.1 port={pg_port} dbname={TEST_DB} pool_size=2\n\
         \n\
         [users]\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {listen_port}\n\
         unix_socket_dir =\n\
         logfile = {{dir}}/pgbouncer.log\n\
         auth_type = scram-sha-256\n\
         auth_file = {{dir}}/userlist.txt\n\
         admin_users = {admin}\n\
         stats_users = stats_reader\n\
         pool_mode = transaction\n\
         max_client_conn = 1000\n\
         default_pool_size = 25\n\
         max_db_connections = 100\n\
         min_pool_size = 0\n\
         reserve_pool_size = 5\n\
         reserve_pool_timeout = 3\n\
         server_reset_query = DISCARD ALL\n\
         server_check_query = select 1\n\
         server_check_delay = 30\n\
         server_lifetime = 3600\n\
         server_idle_timeout = 600\n\
         query_wait_timeout = 120\n\
         client_login_timeout = 60\n\
         ignore_startup_parameters = extra_float_digits\n\
         log_connections = 1\n\
         log_disconnections = 1\n",
        pg_port = pg.port(),
        admin = ROLE_SCRAM.name,
    )
}

/// Everything the scenario observed through one pooler, to compare.
#[derive(Debug, PartialEq)]
struct Observed {
    whoami: String,
    wrong_password: (Option<String>, String),
    unknown_db: String,
    pools_header: Vec<String>,
    appdb_pool_mode: String,
    committed: i64,
}

/// The primary message of an error the pooler sent.
fn message(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| format!("not a server error: {err:?}"))
}

async fn scenario(port: u16, table: &str) -> Observed {
    let password = ROLE_SCRAM.password;
    let user = ROLE_SCRAM.name;

    let client = try_connect(HOST, port, user, password, "appdb")
        .await
        .unwrap_or_else(|e| panic!("login through port {port}: {e:?}"));
    let whoami = first_value(
        &client
            .simple_query("SELECT current_user || '@' || current_database()")
            .await
            .unwrap(),
    );

    let wrong = try_connect(HOST, port, user, Some("not-the-password"), "appdb")
        .await
        .expect_err("a wrong password must be refused");
    let wrong_password = (sqlstate(&wrong).map(str::to_string), message(&wrong));

    let unknown = try_connect(HOST, port, user, password, "nosuchdb")
        .await
        .expect_err("an unknown database must be refused");
    let unknown_db = message(&unknown);

    // Transaction pooling: 8 clients on a pool of 2, each committing rows.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let table = table.to_string();
        tasks.push(tokio::spawn(async move {
            let c = try_connect(HOST, port, user, password, "small")
                .await
                .unwrap();
            for i in 0..10 {
                c.simple_query(&format!(
                    "BEGIN; INSERT INTO {table} VALUES ({n}, {i}); COMMIT"
                ))
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let committed: i64 = first_value(
        &client
            .simple_query(&format!("SELECT count(*) FROM {table}"))
            .await
            .unwrap(),
    )
    .parse()
    .unwrap();

    let console = try_connect(HOST, port, user, password, "pgbouncer")
        .await
        .unwrap_or_else(|e| panic!("admin console on port {port}: {e:?}"));
    let pools = console.simple_query("SHOW POOLS").await.unwrap();
    let mut pools_header = Vec::new();
    let mut appdb_pool_mode = String::new();
    for m in &pools {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                pools_header = cols.iter().take(4).map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) if row.get("database") == Some("appdb") => {
                appdb_pool_mode = row.get("pool_mode").unwrap_or_default().to_string();
            }
            _ => {}
        }
    }

    Observed {
        whoami,
        wrong_password,
        unknown_db,
        pools_header,
        appdb_pool_mode,
        committed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_pgbouncer_ini_works_with_sluice_and_pgbouncer() {
    let pg = PgServer::shared();
    let userlist = pg.userlist_line(ROLE_SCRAM.name) + "\n";
    for table in ["compat_sluice", "compat_pgbouncer"] {
        pg.psql_super_db(
            TEST_DB,
            &format!(
                "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (client int, n int); \
                 GRANT ALL ON {table} TO {};",
                ROLE_SCRAM.name
            ),
        );
    }

    let listen_port = free_port();
    let ini = typical_ini(pg, listen_port);

    // Sluice reads the ini through the real reader (listen_port is
    // ignored in-process: the kit binds port 0).
    let sluice = TestSluice::start(&ini, &userlist).await;
    let through_sluice = scenario(sluice.port, "compat_sluice").await;
    assert_eq!(
        through_sluice.whoami,
        format!("{}@{TEST_DB}", ROLE_SCRAM.name)
    );
    assert_eq!(
        through_sluice.wrong_password,
        (
            Some("28P01".to_string()),
            "SASL authentication failed".to_string()
        )
    );
    assert_eq!(through_sluice.unknown_db, "no such database: nosuchdb");
    assert_eq!(
        through_sluice.pools_header,
        ["database", "user", "cl_active", "cl_waiting"]
    );
    assert_eq!(through_sluice.appdb_pool_mode, "transaction");
    assert_eq!(through_sluice.committed, 80);

    let Some(binary) = pgbouncer_binary() else {
        eprintln!("pgbouncer is not installed: only Sluice was checked against this ini");
        return;
    };
    let dir = temp_dir("pgbouncer");
    std::fs::write(dir.join("userlist.txt"), &userlist).unwrap();
    let ini_path = dir.join("pgbouncer.ini");
    std::fs::write(&ini_path, ini.replace("{dir}", &dir.display().to_string())).unwrap();
    let bouncer = PgBouncer::start(&binary, &dir, &ini_path, listen_port);
    let mut through_pgbouncer = scenario(bouncer.port, "compat_pgbouncer").await;

    // PgBouncer before 1.21 sends every pooler error (a failed password
    // too) as 08P01; Sluice sends 28P01 as Postgres and newer PgBouncers
    // do. Texts must match exactly; the SQLSTATE is compared only with
    // a PgBouncer that uses the specific codes.
    let old_codes = through_pgbouncer.wrong_password.0.as_deref() == Some("08P01");
    if old_codes {
        through_pgbouncer.wrong_password.0 = through_sluice.wrong_password.0.clone();
    }
    assert_eq!(
        through_sluice,
        through_pgbouncer,
        "pgbouncer log:\n{}",
        bouncer.log_text()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
