//! Hostile or broken clients: garbage, truncated and oversized startup
//! packets, unknown protocol versions, silent clients. Each gets its error
//! (or a timeout) and a closed connection; well-behaved clients connected
//! at the same time keep working, and the process stays up.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_tests::clients::{connect, first_value};
use sluice_tests::pg::{PgServer, ROLE_TRUST, TEST_DB};
use sluice_tests::sluice::{test_ini, TestSluice};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOST: &str = "127.0.0.1";

/// Send `bytes`, then read whatever comes back until the server closes.
async fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect((HOST, port)).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "server did not close the connection");
    out
}

/// The SQLSTATE and message of the first ErrorResponse in `reply`.
fn error_fields(reply: &[u8]) -> (String, String) {
    let start = reply
        .iter()
        .position(|b| *b == b'E')
        .expect("an ErrorResponse");
    let len = u32::from_be_bytes(reply[start + 1..start + 5].try_into().unwrap()) as usize;
    let body = &reply[start + 5..start + 1 + len];
    let (mut code, mut message) = (String::new(), String::new());
    for field in body.split(|b| *b == 0) {
        match field.first() {
            Some(b'C') => code = String::from_utf8_lossy(&field[1..]).into(),
            Some(b'M') => message = String::from_utf8_lossy(&field[1..]).into(),
            _ => {}
        }
    }
    (code, message)
}

fn startup(version: u32, params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(body);
    packet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_startup_packets_get_errors_and_others_keep_working() {
    let pg = PgServer::shared();
    let ini = test_ini(pg, "trust", "transaction", "client_login_timeout = 1", "");
    let sluice = TestSluice::start(&ini, &format!("\"{}\" \"\"\n", ROLE_TRUST.name)).await;
    let port = sluice.port;

    // A healthy client, connected throughout.
    let healthy = connect(HOST, port, ROLE_TRUST.name, None, TEST_DB).await;

    // HTTP instead of Postgres: the "length" is huge.
    let (code, _) = error_fields(&exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await);
    assert_eq!(code, "08P01");
    // A declared 2 GB length is refused before anything is allocated.
    let (code, _) = error_fields(&exchange(port, &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]).await);
    assert_eq!(code, "08P01");
    // Length smaller than the header itself.
    let (code, _) = error_fields(&exchange(port, &[0, 0, 0, 2]).await);
    assert_eq!(code, "08P01");
    // Protocol 2.0 and 4.0.
    for version in [0x0002_0000u32, 0x0004_0000] {
        let reply = exchange(port, &startup(version, &[("user", ROLE_TRUST.name)])).await;
        let (code, message) = error_fields(&reply);
        assert_eq!(code, "0A000", "{message}");
    }
    // A startup packet missing its final terminator.
    let mut bad = startup(0x0003_0000, &[("user", ROLE_TRUST.name)]);
    bad.pop();
    let len = (bad.len() as u32).to_be_bytes();
    bad[..4].copy_from_slice(&len);
    let (code, _) = error_fields(&exchange(port, &bad).await);
    assert_eq!(code, "08P01");
    // No user.
    let (code, message) =
        error_fields(&exchange(port, &startup(0x0003_0000, &[("database", TEST_DB)])).await);
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("28000", "no username supplied")
    );
    // An unknown startup parameter.
    let reply = exchange(
        port,
        &startup(
            0x0003_0000,
            &[("user", ROLE_TRUST.name), ("frobnicate", "1")],
        ),
    )
    .await;
    assert_eq!(
        error_fields(&reply),
        (
            "08P01".to_string(),
            "unsupported startup parameter: frobnicate".to_string()
        )
    );
    // Truncated: promises 100 bytes, sends 10, then hangs up.
    {
        let mut s = TcpStream::connect((HOST, port)).await.unwrap();
        s.write_all(&[0, 0, 0, 100, 0, 3, 0, 0, b'u', b's'])
            .await
            .unwrap();
        drop(s);
    }
    // Silent: connects and sends nothing; client_login_timeout closes it.
    {
        let mut s = TcpStream::connect((HOST, port)).await.unwrap();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
        assert!(
            read.is_ok(),
            "a silent client must be dropped by client_login_timeout"
        );
        assert_eq!(error_fields(&out).1, "client_login_timeout");
    }
    // SSLRequest is answered 'N', and the client may go on in the clear.
    {
        let mut s = TcpStream::connect((HOST, port)).await.unwrap();
        s.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await
            .unwrap();
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"N");
    }
    // Protocol 3.2 is negotiated down to 3.0, then login proceeds.
    {
        let mut s = TcpStream::connect((HOST, port)).await.unwrap();
        s.write_all(&startup(
            0x0003_0002,
            &[
                ("user", ROLE_TRUST.name),
                ("database", TEST_DB),
                ("_pq_.x", "1"),
            ],
        ))
        .await
        .unwrap();
        let mut first = [0u8; 1];
        s.read_exact(&mut first).await.unwrap();
        assert_eq!(first[0], b'v', "NegotiateProtocolVersion expected");
    }

    // The healthy client and a new one still work.
    let rows = healthy.simple_query("SELECT 'still here'").await.unwrap();
    assert_eq!(first_value(&rows), "still here");
    let fresh = connect(HOST, port, ROLE_TRUST.name, None, TEST_DB).await;
    fresh.simple_query("SELECT 1").await.unwrap();
}

/// Garbage after login: a message with an impossible length ends that
/// client with 08P01; nobody else notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_login_is_a_protocol_violation() {
    let pg = PgServer::shared();
    let ini = test_ini(pg, "trust", "transaction", "", "");
    let sluice = TestSluice::start(&ini, &format!("\"{}\" \"\"\n", ROLE_TRUST.name)).await;
    let port = sluice.port;
    let healthy = connect(HOST, port, ROLE_TRUST.name, None, TEST_DB).await;

    let mut s = TcpStream::connect((HOST, port)).await.unwrap();
    s.write_all(&startup(
        0x0003_0000,
        &[("user", ROLE_TRUST.name), ("database", TEST_DB)],
    ))
    .await
    .unwrap();
    // Read until ReadyForQuery.
    let mut seen = Vec::new();
    loop {
        let mut b = [0u8; 4096];
        let n = s.read(&mut b).await.unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&b[..n]);
        if seen.len() >= 6 && seen[seen.len() - 6] == b'Z' {
            break;
        }
    }
    // A Query whose length says 3 (less than the length field itself).
    s.write_all(&[b'Q', 0, 0, 0, 3]).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("closed")
        .unwrap();
    assert_eq!(error_fields(&out).0, "08P01");
    healthy.simple_query("SELECT 1").await.unwrap();
}
