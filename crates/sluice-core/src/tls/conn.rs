//! A TLS connection as a [`ByteStream`]: rustls over whichever socket
//! it came in on, with a small read-ahead so "is there input?" can be
//! answered while rustls holds decrypted bytes the socket no longer
//! shows (the idle wait and the pool's liveness probe rely on it).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsStream;

use super::config;
use crate::stream::{ByteStream, Endpoint, ReadAhead, Stream};

/// What was negotiated, for SHOW CLIENTS / SERVERS, log lines and
/// channel binding.
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    /// "TLSv1.3".
    pub protocol: &'static str,
    /// OpenSSL's name of the suite, as PgBouncer shows it.
    pub cipher: &'static str,
    /// Key-exchange group ("X25519").
    pub group: Option<&'static str>,
    /// Common name of the peer's verified certificate, if it sent one
    /// (client leg; `auth_type = cert` logs in as this).
    pub peer_common_name: Option<String>,
    /// tls-server-end-point data of the server certificate of this
    /// connection: ours on the client leg, PostgreSQL's on the server leg.
    pub binding: Option<Arc<[u8]>>,
}

impl TlsInfo {
    /// From a finished handshake.
    pub fn of(conn: &rustls::CommonState, binding: Option<Arc<[u8]>>) -> TlsInfo {
        TlsInfo {
            protocol: conn
                .protocol_version()
                .map(config::protocol_name)
                .unwrap_or(""),
            cipher: conn
                .negotiated_cipher_suite()
                .map(config::cipher_name)
                .unwrap_or(""),
            group: conn
                .negotiated_key_exchange_group()
                .map(|g| config::group_name(g.name())),
            peer_common_name: conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| common_name(cert.as_ref())),
            binding,
        }
    }

    /// PgBouncer's SHOW CLIENTS `tls` column and login-line text:
    /// "TLSv1.3/TLS_AES_256_GCM_SHA384" (what 1.25.2 prints for TLS 1.3),
    /// and for TLS 1.2 the curve too, "TLSv1.2/ECDHE-RSA-AES128-GCM-SHA256/ECDH=prime256v1".
    pub fn describe(&self) -> String {
        match self.group {
            Some(group) if self.protocol == "TLSv1.2" => {
                format!("{}/{}/ECDH={group}", self.protocol, self.cipher)
            }
            _ => format!("{}/{}", self.protocol, self.cipher),
        }
    }
}

/// The subject's CN of a DER certificate.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// rustls over a `Stream`, either leg.
#[derive(Debug)]
pub struct TlsConn {
    inner: ReadAhead<TlsStream<Stream>>,
    info: Arc<TlsInfo>,
    peer: Endpoint,
    local: Endpoint,
    unix: bool,
}

impl TlsConn {
    pub fn new(tls: TlsStream<Stream>, info: TlsInfo) -> TlsConn {
        let socket = tls.get_ref().0;
        let (peer, local, unix) = (socket.peer(), socket.local(), socket.is_unix());
        TlsConn {
            inner: ReadAhead::new(tls, "tls"),
            info: Arc::new(info),
            peer,
            local,
            unix,
        }
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl ByteStream for TlsConn {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_read_ready(cx)
    }

    fn peer(&self) -> Endpoint {
        self.peer.clone()
    }

    fn local(&self) -> Endpoint {
        self.local.clone()
    }

    fn is_unix(&self) -> bool {
        self.unix
    }

    fn tls(&self) -> Option<&Arc<TlsInfo>> {
        Some(&self.info)
    }
}
