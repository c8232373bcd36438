//! Prometheus endpoint on `metrics_addr`: `/metrics` in the text
//! exposition format, `/healthz` (always 200 while the process serves)
//! and `/readyz` (200 only while running and not paused or draining).
//!
//! Metric names, types and labels copy prometheus-community's
//! pgbouncer_exporter (current `pgbouncer_stats_totals_*` names and the
//! pre-0.11 `pgbouncer_stats_*` aliases dashboards still query), so a
//! scrape config can drop the exporter sidecar; Sluice's own additions
//! are under `sluice_`. Every value is computed at scrape time from the
//! same data the admin console shows, so the two always agree. Gauges and
//! integer counters go through the `metrics` facade into a
//! `metrics-exporter-prometheus` recorder made for that one scrape and
//! installed with `metrics::with_local_recorder` (never globally: tests
//! run many instances per process, and no series outlives the pool or
//! client it described); the exporter's fractional `*_seconds_total`
//! counters (the facade's counters are integers) and the pools' lock-free
//! histograms are appended as text. Every family is declared once in
//! `catalogue` (name, help, kind, label names, value); `render` only
//! walks it. `application_name` comes from clients, so its label is
//! bounded per (database, user) (`clients`). The HTTP side is a
//! deliberately tiny HTTP/1.1 responder: one request per connection,
//! bounded head, short timeouts.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::shared::{RunState, Shared};

mod catalogue;
mod clients;
mod render;
pub use render::render;

/// Largest request head we read (requests have no body we care about).
const MAX_HEAD: usize = 8 * 1024;
/// A scraper that does not send its request within this time is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The exporter's registered port, used when `metrics_addr` names none.
pub const DEFAULT_PORT: u16 = 9127;

/// `metrics_addr` as a socket address string: `*` is every IPv4
/// address, and a host without a port gets [`DEFAULT_PORT`].
pub fn resolve_addr(addr: &str) -> String {
    let addr = addr.trim();
    let (host, port) = match addr.rsplit_once(':') {
        // `[::1]` alone, or a bare IPv6 address, has colons but no port.
        Some((host, port)) if !port.contains(']') && !host.ends_with(':') && !port.is_empty() => {
            if host.contains(':') && !host.starts_with('[') {
                (addr, None)
            } else {
                (host, Some(port))
            }
        }
        _ => (addr, None),
    };
    let host = match host {
        "*" | "" => "0.0.0.0",
        h => h,
    };
    let port = port.map_or(DEFAULT_PORT.to_string(), str::to_string);
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Bind `addr` (see [`resolve_addr`]) synchronously, so the caller
/// learns the port before any client could scrape.
pub fn bind(addr: &str) -> io::Result<(TcpListener, SocketAddr)> {
    let addr = resolve_addr(addr);
    let std_listener = std::net::TcpListener::bind(&addr)?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    Ok((TcpListener::from_std(std_listener)?, local))
}

/// Accept scrapes until an immediate shutdown (or until the task is
/// aborted when the instance has finished).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut run_state = shared.run_state.subscribe();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(REQUEST_TIMEOUT, handle(stream, &shared)).await;
                    });
                }
                Err(e) => {
                    tracing::warn!("metrics accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = crate::control::until_state(&mut run_state, |s| *s == RunState::Immediate) => return,
        }
    }
}

async fn handle(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return respond(
                &mut stream,
                431,
                "text/plain",
                "request head too large\n",
                true,
            )
            .await;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    let with_body = method != "HEAD";
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            405,
            "text/plain",
            "method not allowed\n",
            with_body,
        )
        .await;
    }
    match path {
        "/metrics" => {
            let body = render(shared);
            respond(
                &mut stream,
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
                with_body,
            )
            .await
        }
        "/healthz" => respond(&mut stream, 200, "text/plain", "ok\n", with_body).await,
        "/readyz" => {
            if is_ready(shared) {
                respond(&mut stream, 200, "text/plain", "ready\n", with_body).await
            } else {
                respond(&mut stream, 503, "text/plain", "not ready\n", with_body).await
            }
        }
        _ => respond(&mut stream, 404, "text/plain", "not found\n", with_body).await,
    }
}

/// Ready = accepting and serving new clients: running, not paused.
pub fn is_ready(shared: &Shared) -> bool {
    crate::control::is_ready(shared)
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
    with_body: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if with_body {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_the_exporter_port() {
        assert_eq!(resolve_addr("127.0.0.1:0"), "127.0.0.1:0");
        assert_eq!(resolve_addr("*:9200"), "0.0.0.0:9200");
        assert_eq!(resolve_addr("*"), "0.0.0.0:9127");
        assert_eq!(resolve_addr("10.1.2.3"), "10.1.2.3:9127");
        assert_eq!(resolve_addr("localhost"), "localhost:9127");
        assert_eq!(resolve_addr("[::1]:9300"), "[::1]:9300");
        assert_eq!(resolve_addr("[::1]"), "[::1]:9127");
        assert_eq!(resolve_addr("::1"), "[::1]:9127");
    }
}
