//! One socket type for TCP and Unix-domain connections, on either side.
//!
//! The relay is written once against `Stream`; TLS will become another
//! variant here rather than a second code path through the session.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Wait until a read would not block (or the peer closed), without
    /// holding any buffer while we wait: idle clients stay cheap.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable().await,
            Stream::Unix(s) => s.readable().await,
        }
    }

    /// Non-blocking read into `buf`; `WouldBlock` when nothing is there.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read(buf),
            Stream::Unix(s) => s.try_read(buf),
        }
    }

    pub fn is_unix(&self) -> bool {
        matches!(self, Stream::Unix(_))
    }

    /// Peer address for logs and SHOW CLIENTS: (addr, port); Unix sockets
    /// report "unix" and port 0 as PgBouncer does.
    pub fn peer(&self) -> (String, u16) {
        match self {
            Stream::Tcp(s) => match s.peer_addr() {
                Ok(a) => (a.ip().to_string(), a.port()),
                Err(_) => ("unknown".to_string(), 0),
            },
            Stream::Unix(_) => ("unix".to_string(), 0),
        }
    }

    /// Local address (addr, port) for SHOW CLIENTS/SERVERS.
    pub fn local(&self) -> (String, u16) {
        match self {
            Stream::Tcp(s) => match s.local_addr() {
                Ok(a) => (a.ip().to_string(), a.port()),
                Err(_) => ("unknown".to_string(), 0),
            },
            Stream::Unix(_) => ("unix".to_string(), 0),
        }
    }

    /// The peer's uid on a Unix socket (admin access by same-uid peer).
    pub fn peer_uid(&self) -> Option<u32> {
        match self {
            Stream::Unix(s) => s.peer_cred().ok().map(|c| c.uid()),
            Stream::Tcp(_) => None,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
