//! Sessions end to end: `client::serve` over a memory pipe, raw protocol
//! from the client, scripted backends behind the pool.

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use sluice_proto::tags::backend;

use super::client::tags;
use super::{settle, Client, World};

/// [open, idle, linked] of the (db, u) pool.
fn servers(w: &World) -> [usize; 3] {
    let c = w.pool("db", "u").counts();
    [c.open, c.idle, c.linked]
}

async fn login(w: &World) -> Client {
    Client::login(&w.shared, "db", "u").await
}

fn copy_data(row: &[u8], buf: &mut BytesMut) {
    frontend::CopyData::new(row).expect("row").write(buf);
}

/// An error in the middle of a pipeline: the client sees exactly what
/// Postgres sends (the rest of that Sync group skipped), the next group
/// runs, and the server goes back clean and serves the next client.
#[tokio::test(start_paused = true)]
async fn pipeline_error_mid_pipeline_then_the_server_is_reused() {
    let w = World::new("");
    let mut a = login(&w).await;
    for sql in ["select 1", "select fail", "select 1"] {
        a.extended(sql);
    }
    frontend::sync(a.buf());
    a.extended("select 1");
    frontend::sync(a.buf());
    a.flush().await;
    let first = tags(&a.until_ready().await);
    let second = tags(&a.until_ready().await);
    assert_eq!((first.as_str(), second.as_str()), ("12DC12EZ:I", "12DCZ:I"));
    settle().await;
    assert_eq!(servers(&w), [1, 1, 0]);
    let mut b = login(&w).await;
    assert_eq!(b.query("SELECT 1").await, "TDCZ:I");
    assert_eq!(w.backend.logins(), 1);
    assert_eq!(w.backend.conn(1001).queries(), ["SELECT 1"]);
}

/// Flush ends nothing: the server stays with its client until Sync.
#[tokio::test(start_paused = true)]
async fn flush_without_sync_keeps_the_server_linked() {
    let w = World::new("");
    let mut a = login(&w).await;
    a.extended("select 1");
    frontend::flush(a.buf());
    a.flush().await;
    assert_eq!(a.recv_tags(4).await, "12DC");
    settle().await;
    assert_eq!(servers(&w), [1, 0, 1]);
    let mut b = login(&w).await;
    assert_eq!(b.query("SELECT 1").await, "TDCZ:I");
    assert_eq!(w.backend.logins(), 2, "b got a server of its own");
    frontend::sync(a.buf());
    assert_eq!(tags(&a.exchange().await), "Z:I");
    settle().await;
    assert_eq!(servers(&w), [2, 2, 0]);
}

#[tokio::test(start_paused = true)]
async fn copy_in_and_copy_out_pass_through_and_hold_the_server() {
    let w = World::new("");
    let mut a = login(&w).await;
    frontend::query("COPY t FROM STDIN", a.buf()).expect("query");
    a.flush().await;
    assert_eq!(a.recv_tags(1).await, "G");
    settle().await;
    assert_eq!(servers(&w), [1, 0, 1], "linked during COPY");
    for row in [&b"1\n"[..], b"2\n", b"3\n"] {
        copy_data(row, a.buf());
    }
    frontend::copy_done(a.buf());
    assert_eq!(tags(&a.exchange().await), "CZ:I");
    let copied = w.backend.conn(1001).received();
    assert_eq!(
        copied
            .iter()
            .filter(|m| m.0 == sluice_proto::tags::frontend::COPY_DATA)
            .count(),
        3
    );
    assert_eq!(a.query("COPY t TO STDOUT").await, "HdddcCZ:I");
    // A failed COPY IN ends with the server's error, released clean.
    frontend::query("COPY t FROM STDIN", a.buf()).expect("query");
    a.flush().await;
    assert_eq!(a.recv_tags(1).await, "G");
    frontend::copy_fail("client gave up", a.buf()).expect("copy fail");
    assert_eq!(tags(&a.exchange().await), "EZ:I");
    settle().await;
    assert_eq!((servers(&w), w.backend.logins()), ([1, 1, 0], 1));
}

/// A client that does not read stalls its server's writes: what the
/// backend got out is bounded by the pipes and Sluice's buffers, and
/// everything arrives once the client reads.
#[tokio::test(start_paused = true)]
async fn a_slow_reader_stalls_its_server_with_bounded_buffering() {
    let w = World::new("");
    let mut a = login(&w).await;
    let rows = 20_000; // about 20 MB
    frontend::query(&format!("SELECT big {rows}"), a.buf()).expect("query");
    a.flush().await;
    settle().await;
    let conn = w.backend.conn(1001);
    let stalled = conn.sent();
    settle().await;
    assert_eq!(
        conn.sent(),
        stalled,
        "the backend's writes wait for the client"
    );
    assert!(stalled < 512 * 1024, "{stalled} bytes in flight");
    let mut data_rows = 0;
    let last = loop {
        let (tag, _) = a.recv().await.expect("message");
        match tag {
            backend::DATA_ROW => data_rows += 1,
            backend::READY_FOR_QUERY => break tag,
            _ => {}
        }
    };
    assert_eq!((data_rows, last), (rows, backend::READY_FOR_QUERY));
    assert!(conn.sent() > rows * 1024);
}

/// A client gone mid-transaction: its server is closed (and its query
/// cancelled), never handed to the next client.
#[tokio::test(start_paused = true)]
async fn a_client_vanishing_mid_transaction_takes_its_server_along() {
    let w = World::new("");
    let mut a = login(&w).await;
    assert_eq!(a.query("BEGIN").await, "CZ:T");
    drop(a);
    settle().await;
    assert_eq!(servers(&w), [0, 0, 0]);
    assert!(!w.backend.conn(1001).is_live());
    let cancels = w.backend.cancels();
    assert_eq!(cancels.iter().map(|k| k.pid).collect::<Vec<_>>(), [1001]);
    let mut b = login(&w).await;
    assert_eq!(b.query("SELECT 1").await, "TDCZ:I");
    assert_eq!(w.backend.conn(1002).queries(), ["SELECT 1"]);
}

/// A failed transaction ('E') keeps its server until it ends.
#[tokio::test(start_paused = true)]
async fn a_failed_transaction_keeps_its_server_until_rollback() {
    let w = World::new("");
    let mut a = login(&w).await;
    assert_eq!(a.query("BEGIN").await, "CZ:T");
    assert_eq!(a.query("select fail").await, "EZ:E");
    settle().await;
    assert_eq!(servers(&w), [1, 0, 1]);
    assert_eq!(a.query("ROLLBACK").await, "CZ:I");
    settle().await;
    assert_eq!(servers(&w), [1, 1, 0]);
}

/// A parameter one client SET does not follow the server to the next
/// client: one SET restores the next client's value first.
#[tokio::test(start_paused = true)]
async fn tracked_parameters_stay_with_their_client() {
    let w = World::new("");
    let mut a = login(&w).await;
    let mut b = login(&w).await;
    assert_eq!(a.query("SET application_name = 'a'").await, "CSZ:I");
    b.query("SELECT 1").await;
    let queries = w.backend.conn(1001).queries();
    assert_eq!(w.backend.logins(), 1);
    assert_eq!(
        queries[1..],
        [
            "SET application_name='';".to_string(),
            "SELECT 1".to_string()
        ]
    );
}
