//! One stream type for every connection, on either side.
//!
//! Sessions, the relay, server logins and the console are written against
//! `Stream` and use only what any byte stream can do (`AsyncRead`,
//! `AsyncWrite`, and "wait until a read would return something"). TCP and
//! Unix sockets are variants of their own so the hot path dispatches with
//! a match, not a virtual call; anything else (TLS, the in-memory pipes of
//! the unit tests) is a [`ByteStream`] behind `Other`.
//!
//! Why not generic: a `Session<S>` would make every session, link and
//! server type generic, and pools would need one type of server stream
//! each; TLS and plain clients share one pool, so one type it is.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// Where a peer is, for logs and SHOW CLIENTS / SERVERS: (addr, port).
pub type Endpoint = (String, u16);

/// A byte stream that is neither a plain TCP nor a plain Unix socket.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + Sync + fmt::Debug {
    /// Ready when a read would return bytes, EOF or an error, without
    /// consuming anything. A stream that holds bytes of its own (TLS
    /// plaintext already decrypted) must report ready while it does:
    /// the socket under it may have nothing more to say.
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    fn peer(&self) -> Endpoint {
        ("unknown".to_string(), 0)
    }

    fn local(&self) -> Endpoint {
        ("unknown".to_string(), 0)
    }

    fn peer_uid(&self) -> Option<u32> {
        None
    }

    fn is_unix(&self) -> bool {
        false
    }

    /// What TLS negotiated, when this is a TLS stream.
    fn tls(&self) -> Option<&std::sync::Arc<crate::tls::TlsInfo>> {
        None
    }
}

#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Other(Box<dyn ByteStream>),
}

impl Stream {
    pub fn other(stream: impl ByteStream + 'static) -> Stream {
        Stream::Other(Box::new(stream))
    }

    /// Wait until a read would not block (or the peer closed), without
    /// holding any buffer while we wait: idle clients stay cheap. The
    /// read that follows may still find nothing (stale readiness, or a
    /// TLS record that carried no data); callers then wait again.
    pub async fn readable(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    pub fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_read_ready(cx),
            Stream::Unix(s) => s.poll_read_ready(cx),
            Stream::Other(s) => s.poll_read_ready(cx),
        }
    }

    /// Whether the peer sent something (or closed) that nobody asked
    /// for. May consume a byte: only for connections that are dropped
    /// when this says yes (a server idle in the pool).
    pub fn has_unread_input(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        Pin::new(self).poll_read(&mut cx, &mut buf).is_ready()
    }

    /// A stand-in left behind while the real stream is being upgraded to
    /// TLS (taken by value by the handshake): reads EOF, refuses writes.
    /// Boxing a zero-sized type allocates nothing.
    pub fn detached() -> Stream {
        Stream::other(Detached)
    }

    /// TLS details when this stream is TLS.
    pub fn tls(&self) -> Option<&std::sync::Arc<crate::tls::TlsInfo>> {
        match self {
            Stream::Other(s) => s.tls(),
            _ => None,
        }
    }

    pub fn is_unix(&self) -> bool {
        match self {
            Stream::Unix(_) => true,
            Stream::Tcp(_) => false,
            Stream::Other(s) => s.is_unix(),
        }
    }

    /// Peer address for logs and SHOW CLIENTS: (addr, port); Unix sockets
    /// report "unix" and port 0 as PgBouncer does.
    pub fn peer(&self) -> Endpoint {
        match self {
            Stream::Tcp(s) => tcp_endpoint(s.peer_addr()),
            Stream::Unix(_) => unix_endpoint(),
            Stream::Other(s) => s.peer(),
        }
    }

    /// Local address (addr, port) for SHOW CLIENTS/SERVERS.
    pub fn local(&self) -> Endpoint {
        match self {
            Stream::Tcp(s) => tcp_endpoint(s.local_addr()),
            Stream::Unix(_) => unix_endpoint(),
            Stream::Other(s) => s.local(),
        }
    }

    /// The peer's uid on a Unix socket (admin access by same-uid peer).
    pub fn peer_uid(&self) -> Option<u32> {
        match self {
            Stream::Unix(s) => s.peer_cred().ok().map(|c| c.uid()),
            Stream::Tcp(_) => None,
            Stream::Other(s) => s.peer_uid(),
        }
    }
}

fn tcp_endpoint(addr: io::Result<std::net::SocketAddr>) -> Endpoint {
    match addr {
        Ok(a) => (a.ip().to_string(), a.port()),
        Err(_) => ("unknown".to_string(), 0),
    }
}

fn unix_endpoint() -> Endpoint {
    ("unix".to_string(), 0)
}

/// See [`Stream::detached`].
#[derive(Debug)]
struct Detached;

impl AsyncRead for Detached {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Detached {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl ByteStream for Detached {
    fn poll_read_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Forward one `AsyncRead`/`AsyncWrite` call to whichever stream is inside.
macro_rules! each_stream {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => {
                let $s = Pin::new($s);
                $call
            }
            Stream::Unix($s) => {
                let $s = Pin::new($s);
                $call
            }
            Stream::Other($s) => {
                let $s = Pin::new(&mut **$s);
                $call
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each_stream!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => s.poll_shutdown(cx))
    }
}

/// Gives any stream a `poll_read_ready` by reading ahead into a small
/// buffer of its own: the shape of a TLS stream (bytes held above the
/// socket), used for the in-memory pipes of unit tests so the idle wait
/// is exercised exactly as TLS will exercise it.
#[derive(Debug)]
pub struct ReadAhead<S> {
    inner: S,
    ahead: BytesMut,
    label: &'static str,
}

/// How much one read-ahead takes.
const READ_AHEAD: usize = 512;

impl<S> ReadAhead<S> {
    /// `label` is what SHOW CLIENTS shows as the peer address.
    pub fn new(inner: S, label: &'static str) -> Self {
        ReadAhead {
            inner,
            ahead: BytesMut::new(),
            label,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.ahead.is_empty() {
            return Pin::new(&mut me.inner).poll_read(cx, buf);
        }
        let n = me.ahead.len().min(buf.remaining());
        buf.put_slice(&me.ahead[..n]);
        me.ahead.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
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

impl<S> ByteStream for ReadAhead<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + Sync + fmt::Debug,
{
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.ahead.is_empty() {
            return Poll::Ready(Ok(()));
        }
        self.ahead.reserve(READ_AHEAD);
        // EOF (nothing read) is "ready" too: the next read says so.
        tokio_util::io::poll_read_buf(Pin::new(&mut self.inner), cx, &mut self.ahead).map_ok(drop)
    }

    fn peer(&self) -> Endpoint {
        (self.label.to_string(), 0)
    }

    fn local(&self) -> Endpoint {
        (self.label.to_string(), 0)
    }
}

/// A connected pair of in-memory streams (unit tests, benches): what one
/// writes the other reads, and each can wait for input like a socket.
pub fn memory_pair(label: &'static str) -> (Stream, Stream) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    (
        Stream::other(ReadAhead::new(a, label)),
        Stream::other(ReadAhead::new(b, label)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn readiness_sees_bytes_held_above_the_pipe() {
        let (mut a, mut b) = memory_pair("memory");
        a.write_all(b"hello").await.expect("write");
        b.readable().await.expect("readable");
        // The bytes now sit in b's own buffer, not in the pipe: b must
        // still say it is readable (as TLS with decrypted plaintext).
        let mut one = [0u8; 1];
        b.read_exact(&mut one).await.expect("read");
        assert_eq!(&one, b"h");
        b.readable().await.expect("still readable");
        let mut rest = [0u8; 4];
        b.read_exact(&mut rest).await.expect("read");
        assert_eq!(&rest, b"ello");
        assert!(!b.has_unread_input());
        drop(a);
        b.readable().await.expect("eof is readable");
        assert!(b.has_unread_input());
    }
}
