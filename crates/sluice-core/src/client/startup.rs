//! The startup phase: direct TLS, SSLRequest (TLS per
//! `client_tls_sslmode`), GSSENCRequest (always 'N'), CancelRequest, and
//! the StartupMessage with its parameters checked the way PgBouncer
//! checks them.

use bytes::BytesMut;
use sluice_proto::startup::{decode_startup, StartupMessage, StartupPacket, MAX_STARTUP_PACKET};
use sluice_proto::ProtoError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::io::ClientError;
use crate::errors::PoolerError;
use crate::params::{parse_options, VarCache};
use crate::stream::Stream;
use crate::tls::accept::{self, HandshakeCounters};
use crate::tls::ClientTls;

/// What the first packets amounted to.
pub enum Opening {
    Cancel(sluice_proto::startup::CancelKey),
    Login(StartupMessage),
}

/// Read packets until a StartupMessage or CancelRequest arrives. Reads
/// exactly each packet's declared length: nothing is read ahead. With
/// client TLS on, `stream` may come back upgraded to TLS.
pub async fn read_opening(
    stream: &mut Stream,
    tls: Option<&ClientTls>,
    counters: &HandshakeCounters,
) -> Result<Opening, ClientError> {
    if let Some(tls) = tls {
        if accept::starts_with_tls(stream).await? {
            accept::accept_direct(stream, tls, counters).await?;
        }
    }
    loop {
        let mut buf = BytesMut::with_capacity(64);
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await?;
        buf.extend_from_slice(&len);
        let declared = i32::from_be_bytes(len);
        if declared < 8 {
            return Err(ClientError::protocol(ProtoError::TooShort {
                len: declared.max(0) as usize,
            }));
        }
        if declared as usize > MAX_STARTUP_PACKET {
            return Err(ClientError::protocol(ProtoError::TooLong {
                len: declared as usize,
                max: MAX_STARTUP_PACKET,
            }));
        }
        buf.resize(declared as usize, 0);
        stream.read_exact(&mut buf[4..]).await?;
        let packet = decode_startup(&mut buf)
            .map_err(ClientError::protocol)?
            .ok_or(ClientError::protocol(ProtoError::Malformed(
                "incomplete startup packet",
            )))?;
        match packet {
            StartupPacket::SslRequest => {
                accept::answer_ssl_request(stream, tls, counters).await?;
            }
            StartupPacket::GssEncRequest => {
                // No GSSAPI: 'N', and the client goes on with SSLRequest or
                // a plain startup (answering 'G' would be a lie).
                stream.write_all(b"N").await?;
                stream.flush().await?;
            }
            StartupPacket::Cancel(key) => return Ok(Opening::Cancel(key)),
            StartupPacket::Startup(msg) => return Ok(Opening::Login(msg)),
        }
    }
}

/// The parts of a StartupMessage Sluice uses.
pub struct LoginRequest {
    pub user: String,
    pub database: String,
    /// Tracked parameters the client asked for (startup and `options`).
    pub vars: VarCache,
    /// `_pq_.` options we do not support (listed in NegotiateProtocolVersion).
    pub unsupported_options: Vec<String>,
    pub wants_newer_minor: bool,
}

/// Sort the startup parameters into tracked, ignored and refused, as
/// PgBouncer does ("unsupported startup parameter: X").
pub fn check_startup(
    msg: &StartupMessage,
    mut vars: VarCache,
    ignore: &[String],
) -> Result<LoginRequest, ClientError> {
    let user = match msg.get("user") {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => return Err(PoolerError::NoUsername.into()),
    };
    let database = match msg.get("database") {
        Some(d) if !d.is_empty() => d.to_string(),
        _ => user.clone(),
    };
    let ignored = |name: &str| ignore.iter().any(|i| i.eq_ignore_ascii_case(name));
    let mut unsupported_options = Vec::new();
    for (name, value) in &msg.params {
        match name.as_str() {
            "user" | "database" => {}
            n if n.starts_with("_pq_.") => unsupported_options.push(n.to_string()),
            "options" => match parse_options(value) {
                Ok(settings) => {
                    for (k, v) in settings {
                        if !vars.set(&k, &v) && !ignored("options") {
                            return Err(unsupported(&k));
                        }
                    }
                }
                Err(_) if ignored("options") => {}
                Err(_) => return Err(unsupported("options")),
            },
            n => {
                if !vars.set(n, value) && !ignored(n) {
                    return Err(unsupported(n));
                }
            }
        }
    }
    Ok(LoginRequest {
        user,
        database,
        vars,
        unsupported_options,
        wants_newer_minor: msg.minor > 0,
    })
}

impl LoginRequest {
    /// Writes NegotiateProtocolVersion into `buf` when the client asked for
    /// a newer minor version or for `_pq_.` options, and says whether it did.
    pub fn write_negotiation(&self, buf: &mut BytesMut) -> bool {
        if !self.wants_newer_minor && self.unsupported_options.is_empty() {
            return false;
        }
        let options: Vec<&str> = self
            .unsupported_options
            .iter()
            .map(String::as_str)
            .collect();
        sluice_proto::backend::negotiate_protocol_version(0, &options, buf);
        true
    }
}

fn unsupported(name: &str) -> ClientError {
    PoolerError::UnsupportedStartupParameter(name.to_string()).into()
}
