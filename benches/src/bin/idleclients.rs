//! Open N authenticated client connections and hold them idle.
//!
//! Used by the load bench to measure a pooler's resident memory per idle
//! client. Usage:
//!
//! ```text
//! idleclients CONNSTR N [PARALLEL]
//! ```
//!
//! Connects N times (at most PARALLEL logins in flight, default 32), prints
//! `ready <opened> <failed>` on stdout, then holds every connection open
//! until stdin reaches EOF, and exits. Load is on loopback only and the
//! program stops by itself when its parent goes away (stdin closes).

use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_postgres::NoTls;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(connstr), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: idleclients CONNSTR N [PARALLEL]");
        return ExitCode::from(2);
    };
    let parallel: usize = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(32);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("idleclients: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(connstr.clone(), n, parallel))
}

async fn run(connstr: String, n: usize, parallel: usize) -> ExitCode {
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let mut logins = Vec::with_capacity(n);
    for _ in 0..n {
        let gate = gate.clone();
        let connstr = connstr.clone();
        logins.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.ok()?;
            match tokio_postgres::connect(&connstr, NoTls).await {
                Ok((client, connection)) => {
                    // The connection task owns the socket; keep it polled so
                    // the server side sees a live, idle client.
                    tokio::spawn(connection);
                    Some(client)
                }
                Err(e) => {
                    eprintln!("idleclients: connect: {e}");
                    None
                }
            }
        }));
    }
    let mut clients = Vec::with_capacity(n);
    for login in logins {
        if let Ok(Some(client)) = login.await {
            clients.push(client);
        }
    }
    println!("ready {} {}", clients.len(), n - clients.len());
    // Hold until the parent closes our stdin (or dies).
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await;
    drop(clients);
    ExitCode::SUCCESS
}
