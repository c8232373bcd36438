//! The server leg: SSLRequest to PostgreSQL and the handshake, per
//! `server_tls_sslmode`. Logins and cancel requests both come through
//! here (via `ServerRoute::connect`), so a cancel reaches a TLS server
//! over TLS too.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::accept::HandshakeCounters;
use super::conn::{TlsConn, TlsInfo};
use super::{binding, ServerMode, ServerTls};
use crate::server::ServerAddr;
use crate::stream::Stream;

/// SSLRequest: length 8, code 1234.5679.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Make `stream` what `tls` asks for: unchanged for Unix sockets (never
/// TLS, as libpq) and `disable`, else TLS or, in `prefer`/`allow` when
/// the server says `N`, plaintext. The error is the reason in words.
pub async fn negotiate(
    mut stream: Stream,
    addr: &ServerAddr,
    tls: &ServerTls,
    counters: &HandshakeCounters,
) -> Result<Stream, String> {
    let (ServerAddr::Tcp(host, _), Some(config)) = (addr, &tls.config) else {
        return Ok(stream);
    };
    stream
        .write_all(&SSL_REQUEST)
        .await
        .map_err(|e| format!("could not send SSLRequest: {e}"))?;
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| format!("no answer to SSLRequest: {e}"))?;
    match answer[0] {
        b'S' => {}
        b'N' if tls.mode >= ServerMode::Require => {
            // libpq's words for the same refusal.
            return Err("server does not support SSL, but SSL was required".to_string());
        }
        b'N' => return Ok(stream),
        other => {
            return Err(format!(
                "server answered SSLRequest with {:?}",
                char::from(other).escape_default().to_string()
            ))
        }
    }
    if super::accept::server_sent_extra(&stream) {
        return Err("server sent unencrypted data after SSL response".to_string());
    }
    // A DNS name goes out as SNI (what SNI-routed hosted PostgreSQL
    // needs); an IP literal becomes ServerName::IpAddress, which rustls
    // never puts in SNI, as libpq does.
    let name = ServerName::try_from(host.clone())
        .map_err(|_| format!("invalid server host name for TLS: {host}"))?;
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let conn = match connector.connect(name, stream).await {
        Ok(conn) => {
            counters.completed.fetch_add(1, Ordering::Relaxed);
            conn
        }
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            return Err(e.to_string());
        }
    };
    let binding = conn
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| binding::tls_server_end_point(cert.as_ref()))
        .map(Arc::from);
    let info = TlsInfo::of(conn.get_ref().1, binding);
    Ok(Stream::other(TlsConn::new(conn.into(), info)))
}
