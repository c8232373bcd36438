//! Pool behaviour against scripted backends, in virtual time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::sleep;

use super::{give_back, settle, Login, World};
use crate::pool::{CheckoutError, Pool, PooledServer};

async fn take(pool: &Arc<Pool>) -> PooledServer {
    pool.checkout().await.expect("checkout")
}

/// A checkout running in its own task (a client waiting in line).
fn spawn_checkout(pool: &Arc<Pool>) -> JoinHandle<Result<PooledServer, CheckoutError>> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.checkout().await })
}

/// [open, idle, linked, connecting, waiting]
fn shape(pool: &Pool) -> [usize; 5] {
    let c = pool.counts();
    [c.open, c.idle, c.linked, c.connecting, c.waiting]
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_oldest_first() {
    let w = World::new("default_pool_size = 1");
    let pool = w.pool("db", "u");
    let held = take(&pool).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for i in 0..4 {
        let (pool, order) = (pool.clone(), order.clone());
        waiters.push(tokio::spawn(async move {
            let server = pool.checkout().await.expect("checkout");
            order.lock().expect("order").push(i);
            settle().await;
            give_back(server);
        }));
        settle().await;
    }
    assert_eq!(shape(&pool), [1, 0, 1, 0, 4]);
    give_back(held);
    for waiter in waiters {
        waiter.await.expect("waiter task");
    }
    assert_eq!(*order.lock().expect("order"), [0, 1, 2, 3]);
    assert_eq!(w.backend.logins(), 1);
    assert_eq!(shape(&pool), [1, 1, 0, 0, 0]);
}

#[tokio::test(start_paused = true)]
async fn reserve_pool_opens_only_after_reserve_pool_timeout() {
    let w = World::new("default_pool_size = 1\nreserve_pool_size = 1\nreserve_pool_timeout = 5");
    let pool = w.pool("db", "u");
    let _held = take(&pool).await;
    let waiter = spawn_checkout(&pool);
    sleep(Duration::from_millis(4900)).await;
    assert!(!waiter.is_finished());
    assert_eq!(w.backend.logins(), 1);
    sleep(Duration::from_millis(200)).await;
    let _reserve = waiter.await.expect("waiter task").expect("reserve server");
    assert_eq!(w.backend.logins(), 2);
    assert_eq!(shape(&pool), [2, 0, 2, 0, 0]);
    // The reserve is spent: the next client waits until query_wait_timeout.
    let third = spawn_checkout(&pool);
    sleep(secs(60)).await;
    assert!(!third.is_finished());
    assert_eq!(w.backend.logins(), 2);
}

#[tokio::test(start_paused = true)]
async fn min_pool_size_is_topped_up_once_clients_came() {
    let w = World::new("default_pool_size = 5\nmin_pool_size = 3");
    let pool = w.pool("db", "u");
    assert_eq!(pool.janitor_pass(false), 0, "no client yet, no forced user");
    assert_eq!(pool.janitor_pass(true), 3);
    for _ in 0..3 {
        pool.prefill_one().await;
    }
    assert_eq!(shape(&pool), [3, 3, 0, 0, 0]);
    assert_eq!(pool.janitor_pass(true), 0);
    let one = take(&pool).await;
    drop(one);
    assert_eq!(pool.janitor_pass(true), 1, "a closed server is replaced");
    assert_eq!(w.backend.logins(), 3);
}

/// A client of one pool waits for a slot held idle by another pool of
/// the same group: that idle server is closed and the slot moves.
async fn shared_cap_moves_an_idle_slot(
    cap: &str,
    a: (&str, &str),
    b: (&str, &str),
) -> (World, PooledServer) {
    let w = World::new(&format!("default_pool_size = 5\n{cap} = 1"));
    let (pool_a, pool_b) = (w.pool(a.0, a.1), w.pool(b.0, b.1));
    give_back(take(&pool_a).await);
    assert_eq!(shape(&pool_a), [1, 1, 0, 0, 0]);
    let server = take(&pool_b).await;
    assert_eq!(shape(&pool_a), [0, 0, 0, 0, 0]);
    assert_eq!(shape(&pool_b), [1, 0, 1, 0, 0]);
    settle().await;
    assert_eq!((w.backend.logins(), w.backend.live()), (2, 1));
    // And back: a waiter in A gets B's server when B releases it.
    let waiter = spawn_checkout(&pool_a);
    settle().await;
    give_back(server);
    let server = waiter.await.expect("waiter task").expect("slot moved back");
    assert_eq!(shape(&pool_b), [0, 0, 0, 0, 0]);
    assert_eq!(shape(&pool_a), [1, 0, 1, 0, 0]);
    (w, server)
}

#[tokio::test(start_paused = true)]
async fn max_db_connections_moves_idle_slots_between_pools() {
    let (w, _server) =
        shared_cap_moves_an_idle_slot("max_db_connections", ("db", "a"), ("db", "b")).await;
    assert_eq!(w.shared.db_connections("db"), 1);
}

#[tokio::test(start_paused = true)]
async fn max_user_connections_moves_idle_slots_between_pools() {
    let (w, _server) =
        shared_cap_moves_an_idle_slot("max_user_connections", ("db", "u"), ("db2", "u")).await;
    assert_eq!(w.shared.user_connections("u"), 1);
}

#[tokio::test(start_paused = true)]
async fn server_lifetime_closes_old_servers_idle_or_linked() {
    let w = World::new("server_lifetime = 60");
    let pool = w.pool("db", "u");
    give_back(take(&pool).await);
    pool.age_idle(secs(59));
    pool.janitor_pass(false);
    assert_eq!(shape(&pool), [1, 1, 0, 0, 0]);
    pool.age_idle(secs(2));
    pool.janitor_pass(false);
    assert_eq!(shape(&pool), [0, 0, 0, 0, 0]);
    // One that ages while linked closes when it comes back.
    let mut server = take(&pool).await;
    server.conn().created -= secs(61);
    give_back(server);
    assert_eq!(shape(&pool), [0, 0, 0, 0, 0]);
    settle().await;
    assert_eq!((w.backend.logins(), w.backend.live()), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn server_idle_timeout_closes_servers_idle_too_long() {
    let w = World::new("server_idle_timeout = 30");
    let pool = w.pool("db", "u");
    let (a, b) = (take(&pool).await, take(&pool).await);
    give_back(a);
    pool.age_idle(secs(29));
    give_back(b);
    pool.janitor_pass(false);
    assert_eq!(shape(&pool), [2, 2, 0, 0, 0]);
    pool.age_idle(secs(2));
    pool.janitor_pass(false);
    assert_eq!(
        shape(&pool),
        [1, 1, 0, 0, 0],
        "only the one idle 31 s closed"
    );
    settle().await;
    assert_eq!(w.backend.live(), 1);
}

#[tokio::test(start_paused = true)]
async fn query_wait_timeout_fails_the_waiter_and_leaves_counts_exact() {
    let w = World::new("default_pool_size = 1\nquery_wait_timeout = 10");
    let pool = w.pool("db", "u");
    let held = take(&pool).await;
    let waiter = spawn_checkout(&pool);
    sleep(Duration::from_millis(9900)).await;
    assert!(!waiter.is_finished());
    let Err(e) = waiter.await.expect("waiter task") else {
        panic!("waiter got a server")
    };
    let pg = e.to_client_error();
    assert_eq!(
        (pg.code.code(), pg.message.as_str()),
        ("08P01", "query_wait_timeout")
    );
    assert_eq!(shape(&pool), [1, 0, 1, 0, 0]);
    give_back(held);
    assert_eq!(shape(&pool), [1, 1, 0, 0, 0]);
    assert_eq!(w.shared.db_connections("db"), 1);
}

/// A waiter whose client went away (its checkout future dropped) after
/// the pool handed it a server: the server must come back, not vanish
/// with the channel holding it.
#[tokio::test(start_paused = true)]
async fn waiter_dropped_after_a_server_was_handed_to_it() {
    let w = World::new("default_pool_size = 1");
    let pool = w.pool("db", "u");
    let held = take(&pool).await;
    let waiter = spawn_checkout(&pool);
    settle().await;
    give_back(held);
    waiter.abort();
    settle().await;
    assert_eq!(shape(&pool), [1, 1, 0, 0, 0]);
    assert_eq!(w.shared.db_connections("db"), 1);
    let _again = take(&pool).await;
    assert_eq!(w.backend.logins(), 1);
}

/// The same when what was handed over was a slot (a server had closed),
/// or when the client left while its new server was logging in.
#[tokio::test(start_paused = true)]
async fn waiter_dropped_holding_a_slot_gives_the_slot_back() {
    let w = World::new("default_pool_size = 1");
    let pool = w.pool("db", "u");
    let held = take(&pool).await;
    let waiter = spawn_checkout(&pool);
    settle().await;
    drop(held);
    waiter.abort();
    settle().await;
    assert_eq!(shape(&pool), [0, 0, 0, 0, 0]);
    w.backend.set_login_delay(secs(5));
    let logging_in = spawn_checkout(&pool);
    settle().await;
    assert_eq!(shape(&pool), [1, 0, 0, 1, 0]);
    logging_in.abort();
    settle().await;
    assert_eq!(shape(&pool), [0, 0, 0, 0, 0]);
    assert_eq!(w.shared.db_connections("db"), 0);
    assert_eq!(w.shared.user_connections("u"), 0);
}

#[tokio::test(start_paused = true)]
async fn reload_to_a_smaller_pool_closes_the_surplus() {
    let w = World::new("default_pool_size = 4");
    let pool = w.pool("db", "u");
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(take(&pool).await);
    }
    give_back(servers.pop().expect("server"));
    give_back(servers.pop().expect("server"));
    w.reload("default_pool_size = 1");
    pool.janitor_pass(false);
    assert_eq!(shape(&pool), [2, 0, 2, 0, 0], "idle surplus closed");
    give_back(servers.pop().expect("server"));
    assert_eq!(
        shape(&pool),
        [1, 0, 1, 0, 0],
        "linked surplus closes at checkin"
    );
    give_back(servers.pop().expect("server"));
    assert_eq!(shape(&pool), [1, 1, 0, 0, 0]);
    settle().await;
    assert_eq!(w.backend.live(), 1);
}

#[tokio::test(start_paused = true)]
async fn server_login_retry_fails_fast_with_the_cached_error() {
    let w = World::new("server_login_retry = 15");
    let pool = w.pool("db", "u");
    w.backend.set_login(Login::Fail);
    let first = pool
        .checkout()
        .await
        .err()
        .expect("login fails")
        .to_client_error();
    assert_eq!(first.code.code(), "28P01");
    assert_eq!(
        first.message,
        "password authentication failed for user \"u\""
    );
    let second = pool
        .checkout()
        .await
        .err()
        .expect("cached")
        .to_client_error();
    let cached = crate::errors::PoolerError::LoginFailing(first.message.clone());
    assert_eq!(
        (second.code, second.message),
        (first.code, cached.message().into_owned())
    );
    assert_eq!(
        w.backend.attempts(),
        1,
        "no second login while the error is cached"
    );
    assert_eq!(shape(&pool), [0, 0, 0, 0, 0]);
    w.backend.set_login(Login::Ok);
    sleep(secs(16)).await;
    let _server = take(&pool).await;
    assert_eq!(w.backend.attempts(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_refused_connect_is_a_connection_failure() {
    let w = World::new("server_login_retry = 0");
    let pool = w.pool("db", "u");
    w.backend.set_login(Login::Refuse);
    let e = pool
        .checkout()
        .await
        .err()
        .expect("refused")
        .to_client_error();
    assert_eq!(e.code.code(), "08006");
    assert!(
        e.message.starts_with("could not connect to server"),
        "{e:?}"
    );
    assert_eq!(shape(&pool), [0, 0, 0, 0, 0]);
}

#[tokio::test(start_paused = true)]
async fn pause_holds_checkouts_past_query_wait_timeout_until_resume() {
    let w = World::new("query_wait_timeout = 10");
    let pool = w.pool("db", "u");
    pool.pause();
    let waiter = spawn_checkout(&pool);
    sleep(secs(100)).await;
    assert!(!waiter.is_finished());
    assert!(pool.checkout_idle().is_none());
    assert_eq!((w.backend.attempts(), shape(&pool)), (0, [0, 0, 0, 0, 0]));
    pool.resume();
    let _server = waiter
        .await
        .expect("waiter task")
        .expect("served after RESUME");
    assert_eq!(w.backend.logins(), 1);
}

#[tokio::test(start_paused = true)]
async fn reconnect_retires_idle_now_and_linked_at_release() {
    let w = World::new("");
    let pool = w.pool("db", "u");
    let (linked, idle) = (take(&pool).await, take(&pool).await);
    give_back(idle);
    pool.retire_all();
    assert_eq!(shape(&pool), [1, 0, 1, 0, 0]);
    give_back(linked);
    assert_eq!(shape(&pool), [0, 0, 0, 0, 0]);
    let mut fresh = take(&pool).await;
    assert_eq!(fresh.conn().key.map(|k| k.pid), Some(1003));
    settle().await;
    assert_eq!(w.backend.live(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dead_idle_server_is_never_handed_out() {
    let w = World::new("");
    let pool = w.pool("db", "u");
    give_back(take(&pool).await);
    give_back(take(&pool).await);
    w.backend.kill(1001);
    settle().await;
    assert!(
        pool.checkout_idle().is_none(),
        "the dead one is found and closed"
    );
    assert_eq!(shape(&pool), [0, 0, 0, 0, 0]);
    give_back(take(&pool).await);
    w.backend.kill(1002);
    settle().await;
    let mut server = take(&pool).await;
    assert_eq!(server.conn().key.map(|k| k.pid), Some(1003));
    assert_eq!(shape(&pool), [1, 0, 1, 0, 0]);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_pooled_server_closes_and_cancels_it() {
    let w = World::new("");
    let pool = w.pool("db", "u");
    drop(take(&pool).await);
    assert_eq!(shape(&pool), [0, 0, 0, 0, 0]);
    settle().await;
    assert_eq!(w.backend.live(), 0);
    let cancels = w.backend.cancels();
    assert_eq!(cancels.iter().map(|k| k.pid).collect::<Vec<_>>(), [1001]);
    let _next = take(&pool).await;
    assert_eq!(w.backend.logins(), 2, "never reused");
}

#[tokio::test(start_paused = true)]
async fn server_check_query_runs_after_the_delay_and_replaces_failures() {
    let w = World::new("server_check_delay = 10\nserver_check_query = select 1");
    let pool = w.pool("db", "u");
    give_back(take(&pool).await);
    give_back(take(&pool).await);
    assert!(w.backend.conn(1001).queries().is_empty(), "fresh: no check");
    pool.age_idle(secs(11));
    give_back(take(&pool).await);
    assert_eq!(w.backend.conn(1001).queries(), ["select 1"]);
    w.reload("server_check_delay = 10\nserver_check_query = select fail");
    pool.age_idle(secs(11));
    let mut server = take(&pool).await;
    assert_eq!(
        server.conn().key.map(|k| k.pid),
        Some(1002),
        "failed check: replaced"
    );
    assert_eq!(shape(&pool), [1, 0, 1, 0, 0]);
}
