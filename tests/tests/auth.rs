//! Client and server authentication through Sluice against a real
//! PostgreSQL: every pairing of client auth (trust, md5, scram) with server
//! auth (trust, md5, scram), wrong passwords, unknown databases, and SCRAM
//! pass-through with no plaintext password anywhere.
#![allow(clippy::unwrap_used)]

use sluice_tests::clients::{first_value, psql_async, sqlstate, try_connect};
use sluice_tests::pg::{PgServer, ROLE_MD5, ROLE_SCRAM, ROLE_TRUST, TEST_DB};
use sluice_tests::sluice::{test_ini, TestSluice};

const HOST: &str = "127.0.0.1";

/// Password the client uses towards Sluice (kept apart from the server's
/// so we can tell which one is checked where).
const CLIENT_PW: &str = "client-secret";

async fn query_user(port: u16, user: &str, password: Option<&str>) -> Result<String, String> {
    let client = try_connect(HOST, port, user, password, TEST_DB)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let row = client
        .simple_query("SELECT current_user")
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(first_value(&row))
}

/// Each client auth type against each server auth method. The userlist
/// holds, per role, what the server needs: plain text where the client
/// auth can use plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_and_server_auth_pairing_works() {
    let pg = PgServer::shared();
    for client_auth in ["trust", "plain", "md5", "scram-sha-256"] {
        for role in [ROLE_TRUST, ROLE_MD5, ROLE_SCRAM] {
            // The [databases] line carries the server password, so the
            // userlist can hold the client-side one.
            let server_pw = role
                .password
                .map(|p| format!(" password={p}"))
                .unwrap_or_default();
            let ini = test_ini(
                pg,
                client_auth,
                "session",
                "",
                &format!(
                    "forced = host=127.0.0.1 port={} dbname={TEST_DB} user={}{server_pw}",
                    pg.port(),
                    role.name
                ),
            );
            let userlist = format!("\"app\" \"{CLIENT_PW}\"\n");
            let sluice = TestSluice::start(&ini, &userlist).await;
            let password = (client_auth != "trust").then_some(CLIENT_PW);

            let client = try_connect(HOST, sluice.port, "app", password, "forced")
                .await
                .unwrap_or_else(|e| panic!("{client_auth} → {}: {e:?}", role.name));
            let rows = client.simple_query("SELECT current_user").await.unwrap();
            assert_eq!(
                first_value(&rows),
                role.name,
                "{client_auth} → {}",
                role.name
            );

            let out = psql_async(
                HOST,
                sluice.port,
                "app",
                password,
                "forced",
                "SELECT current_user",
            )
            .await;
            assert!(
                out.status.success(),
                "psql {client_auth} → {}: {}",
                role.name,
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), role.name);
        }
    }
}

/// Secrets instead of passwords: an md5 secret serves md5 servers, and a
/// SCRAM secret (byte-identical to the server's) serves SCRAM servers by
/// pass-through. No plaintext password is in any file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_secrets_authenticate_both_sides_without_plaintext() {
    let pg = PgServer::shared();
    // md5 secret: client md5 auth, server md5 auth.
    let ini = test_ini(pg, "md5", "transaction", "", "");
    let userlist = format!("{}\n", pg.userlist_line(ROLE_MD5.name));
    assert!(!userlist.contains("md5pass"));
    let sluice = TestSluice::start(&ini, &userlist).await;
    assert_eq!(
        query_user(sluice.port, ROLE_MD5.name, ROLE_MD5.password).await,
        Ok(ROLE_MD5.name.to_string())
    );

    // SCRAM secret: client SCRAM auth, server SCRAM auth by pass-through.
    let ini = test_ini(pg, "scram-sha-256", "transaction", "", "");
    let userlist = format!("{}\n", pg.userlist_line(ROLE_SCRAM.name));
    assert!(userlist.contains("SCRAM-SHA-256$") && !userlist.contains("scrampass"));
    let sluice = TestSluice::start(&ini, &userlist).await;
    assert_eq!(
        query_user(sluice.port, ROLE_SCRAM.name, ROLE_SCRAM.password).await,
        Ok(ROLE_SCRAM.name.to_string())
    );
    // psql too, and a second client reuses the keys the first one supplied.
    let out = psql_async(
        HOST,
        sluice.port,
        ROLE_SCRAM.name,
        ROLE_SCRAM.password,
        TEST_DB,
        "SELECT 42",
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "42",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // auth_type md5 switches to SCRAM when the stored secret is SCRAM.
    let ini = test_ini(pg, "md5", "transaction", "", "");
    let sluice = TestSluice::start(&ini, &userlist).await;
    assert_eq!(
        query_user(sluice.port, ROLE_SCRAM.name, ROLE_SCRAM.password).await,
        Ok(ROLE_SCRAM.name.to_string())
    );
}

/// Wrong password and unknown user fail alike with 28P01; unknown
/// database with 3D000 — only after authentication.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_user_and_unknown_database() {
    let pg = PgServer::shared();
    for (auth, text) in [
        ("md5", "password authentication failed"),
        ("scram-sha-256", "SASL authentication failed"),
        ("plain", "password authentication failed"),
    ] {
        let ini = test_ini(pg, auth, "session", "", "");
        let userlist = format!("\"{}\" \"{}\"\n", ROLE_MD5.name, "md5pass");
        let sluice = TestSluice::start(&ini, &userlist).await;

        for (user, password) in [(ROLE_MD5.name, "wrong"), ("nobody", "md5pass")] {
            let err = try_connect(HOST, sluice.port, user, Some(password), TEST_DB)
                .await
                .err()
                .unwrap_or_else(|| panic!("{auth}: {user} must be refused"));
            assert_eq!(sqlstate(&err), Some("28P01"), "{auth} {user}: {err:?}");
            let db_err = err.as_db_error().unwrap();
            assert_eq!(db_err.message(), text);
            assert_eq!(db_err.severity(), "FATAL");
        }

        // Right password, unknown database.
        let err = try_connect(HOST, sluice.port, ROLE_MD5.name, Some("md5pass"), "nope")
            .await
            .err()
            .unwrap_or_else(|| panic!("unknown db must be refused"));
        assert_eq!(sqlstate(&err), Some("3D000"));
        assert_eq!(
            err.as_db_error().unwrap().message(),
            "no such database: nope"
        );
        // Wrong password and unknown database: still only the auth error.
        let err = try_connect(HOST, sluice.port, ROLE_MD5.name, Some("bad"), "nope")
            .await
            .err()
            .unwrap_or_else(|| panic!("refused"));
        assert_eq!(sqlstate(&err), Some("28P01"));
    }
}

/// A server that refuses our login passes its own error and SQLSTATE on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_login_errors_reach_the_client() {
    let pg = PgServer::shared();
    let ini = test_ini(
        pg,
        "trust",
        "session",
        "server_login_retry = 0",
        &format!(
            "missing = host=127.0.0.1 port={} dbname=no_such_db_here",
            pg.port()
        ),
    );
    let sluice = TestSluice::start(&ini, &format!("\"{}\" \"\"\n", ROLE_TRUST.name)).await;
    let err = try_connect(HOST, sluice.port, ROLE_TRUST.name, None, "missing")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(sqlstate(&err), Some("3D000"), "{err:?}");
    assert!(err
        .as_db_error()
        .unwrap()
        .message()
        .contains("no_such_db_here"));
}
