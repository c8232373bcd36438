//! The client leg: answering SSLRequest, direct TLS (PostgreSQL 17's
//! `sslnegotiation=direct`), and the checks PostgreSQL makes around them.
//!
//! The stream is upgraded in place: the plaintext socket is taken out
//! (a [`Stream::detached`] stand-in is left while the handshake runs, so
//! a login timeout that drops us half way leaves nothing usable behind)
//! and the TLS stream is put back.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::conn::{TlsConn, TlsInfo};
use super::{ClientTls, ALPN_POSTGRESQL};
use crate::client::io::ClientError;
use crate::errors::PoolerError;
use crate::stream::Stream;

/// First byte of a TLS handshake record: a direct-TLS client.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A fatal `no_application_protocol` alert (RFC 7301 §3.2), sent in the
/// clear before any ServerHello, exactly as a TLS server would.
const NO_APPLICATION_PROTOCOL_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 120];

/// Largest ClientHello we look at before the handshake proper.
const MAX_CLIENT_HELLO: usize = 16 * 1024;

/// Handshakes on the client leg, for /metrics.
#[derive(Debug, Default)]
pub struct HandshakeCounters {
    pub completed: AtomicU64,
    pub failed: AtomicU64,
}

/// Whether the client opened with a TLS record instead of a packet
/// length. Waits for its first byte without consuming it.
pub async fn starts_with_tls(stream: &Stream) -> io::Result<bool> {
    let Stream::Tcp(tcp) = stream else {
        return Ok(false);
    };
    let mut first = [0u8; 1];
    let n = tcp.peek(&mut first).await?;
    Ok(n == 1 && first[0] == TLS_HANDSHAKE_RECORD)
}

/// Answer an SSLRequest: `S` and a handshake when TLS is on for this
/// connection, `N` otherwise (TLS off, a Unix socket, or a second
/// SSLRequest inside TLS).
pub async fn answer_ssl_request(
    stream: &mut Stream,
    tls: Option<&ClientTls>,
    counters: &HandshakeCounters,
) -> Result<(), ClientError> {
    let tls = match tls {
        Some(tls) if !stream.is_unix() && stream.tls().is_none() => tls,
        _ => {
            stream.write_all(b"N").await?;
            stream.flush().await?;
            return Ok(());
        }
    };
    // Bytes already here were sent before our answer could be read: a
    // legitimate client waits for 'S'. Taking them as handshake (or, worse,
    // as data after it) is the class of PgBouncer's CVE-2021-3935 and
    // PostgreSQL's CVE-2021-23214; PostgreSQL refuses.
    if unread_bytes_waiting(stream) {
        return Err(PoolerError::UnencryptedAfterSslRequest.into());
    }
    stream.write_all(b"S").await?;
    stream.flush().await?;
    handshake(stream, tls, counters).await
}

/// A direct-TLS connection: the ClientHello must ask for ALPN
/// `postgresql` (PostgreSQL refuses one without ALPN; PgBouncer does not
/// check — Sluice follows PostgreSQL).
pub async fn accept_direct(
    stream: &mut Stream,
    tls: &ClientTls,
    counters: &HandshakeCounters,
) -> Result<(), ClientError> {
    if !offers_postgresql_alpn(stream).await? {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(&NO_APPLICATION_PROTOCOL_ALERT).await;
        let _ = stream.flush().await;
        return Err(ClientError::Gone(io::Error::other(
            "direct TLS connection without ALPN postgresql refused",
        )));
    }
    handshake(stream, tls, counters).await
}

async fn handshake(
    stream: &mut Stream,
    tls: &ClientTls,
    counters: &HandshakeCounters,
) -> Result<(), ClientError> {
    let plain = std::mem::replace(stream, Stream::detached());
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    match acceptor.accept(plain).await {
        Ok(conn) => {
            counters.completed.fetch_add(1, Ordering::Relaxed);
            let info = TlsInfo::of(conn.get_ref().1, tls.binding.clone());
            *stream = Stream::other(TlsConn::new(conn.into(), info));
            Ok(())
        }
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            Err(ClientError::Gone(io::Error::other(format!(
                "TLS handshake error: {e}"
            ))))
        }
    }
}

/// Look at the ClientHello without consuming it and say whether its
/// ALPN list has `postgresql`. A hello that is not TLS at all counts
/// as "no" (the caller refuses the connection either way).
async fn offers_postgresql_alpn(stream: &Stream) -> Result<bool, ClientError> {
    let Stream::Tcp(tcp) = stream else {
        return Ok(false);
    };
    let mut buf = vec![0u8; MAX_CLIENT_HELLO];
    let mut seen = 0;
    loop {
        let n = tcp.peek(&mut buf).await?;
        if n == 0 {
            return Err(ClientError::Gone(io::ErrorKind::UnexpectedEof.into()));
        }
        let mut acceptor = rustls::server::Acceptor::default();
        let mut input = &buf[..n];
        if acceptor.read_tls(&mut input).is_err() {
            return Ok(false);
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let alpn = accepted.client_hello().alpn();
                return Ok(alpn.is_some_and(|mut names| names.any(|p| p == ALPN_POSTGRESQL)));
            }
            Ok(None) if n < MAX_CLIENT_HELLO => {}
            Ok(None) | Err(_) => return Ok(false),
        }
        // The hello spans more than what has arrived: wait for more. Peek
        // returns at once while anything is unread, so pause briefly
        // instead of spinning (client_login_timeout bounds the whole).
        if n == seen {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        seen = n;
    }
}

/// Whether the socket holds bytes nobody has read, checked without
/// waiting and without consuming them.
fn unread_bytes_waiting(stream: &Stream) -> bool {
    let Stream::Tcp(tcp) = stream else {
        return false;
    };
    peek_now(tcp)
}

fn peek_now(tcp: &TcpStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    matches!(
        tcp.poll_peek(&mut cx, &mut buf),
        Poll::Ready(Ok(n)) if n > 0
    )
}

/// Whether a server socket sent more than the one-byte answer to our
/// SSLRequest (the server-leg form of the same check).
pub(super) fn server_sent_extra(stream: &Stream) -> bool {
    unread_bytes_waiting(stream)
}
