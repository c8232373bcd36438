//! How servers are reached: the pool asks a [`Connector`] for a stream to
//! an address and logs in over whatever it gets. Production uses
//! [`SocketConnector`] (TCP with TCP_NODELAY, or a Unix socket); TLS to
//! servers wraps it; the unit tests inject scripted backends over
//! in-memory pipes, so the pool and session run without PostgreSQL.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::{TcpStream, UnixStream};

use crate::server::{ServerAddr, ServerError};
use crate::stream::Stream;
use crate::tls::accept::HandshakeCounters;
use crate::tls::ServerTls;

pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send + 'a>>;

/// Opens the byte stream a server login (or a cancel request) runs over.
pub trait Connector: Send + Sync + fmt::Debug {
    fn connect<'a>(&'a self, addr: &'a ServerAddr) -> ConnectFuture<'a>;
}

/// Plain sockets, as the address says.
#[derive(Debug, Default, Clone, Copy)]
pub struct SocketConnector;

impl Connector for SocketConnector {
    fn connect<'a>(&'a self, addr: &'a ServerAddr) -> ConnectFuture<'a> {
        Box::pin(async move {
            match addr {
                ServerAddr::Tcp(host, port) => {
                    let s = TcpStream::connect((host.as_str(), *port)).await?;
                    s.set_nodelay(true)?;
                    Ok(Stream::Tcp(s))
                }
                ServerAddr::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
            }
        })
    }
}

/// A server's address with the connector that reaches it and the TLS
/// settings it was first reached with. Shared (by `Arc`) between the
/// connection and the cancel slot of the client linked to it, so a
/// cancel travels the same way the login did, TLS included.
#[derive(Debug, Clone)]
pub struct ServerRoute {
    pub addr: ServerAddr,
    pub connector: Arc<dyn Connector>,
    pub tls: Arc<ServerTls>,
    /// Where this route's TLS handshakes are counted.
    pub handshakes: Arc<HandshakeCounters>,
}

impl ServerRoute {
    pub async fn connect(&self) -> Result<Stream, ServerError> {
        let stream = self
            .connector
            .connect(&self.addr)
            .await
            .map_err(ServerError::Connect)?;
        crate::tls::connect::negotiate(stream, &self.addr, &self.tls, &self.handshakes)
            .await
            .map_err(ServerError::Tls)
    }
}
