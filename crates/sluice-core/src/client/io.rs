//! The client's one error path and the small exact reads of the login
//! phase (no read-ahead: every byte before login is accounted for).

use bytes::{Bytes, BytesMut};
use sluice_proto::frame::{parse_header, Message, HEADER_LEN};
use sluice_proto::{PgError, ProtoError, SqlState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::errors::PoolerError;
use crate::stream::Stream;

/// Why a client session ends early.
#[derive(Debug)]
pub enum ClientError {
    /// Tell the client this error, then close.
    Fatal(PgError),
    /// The client's socket failed or closed: nobody to tell.
    Gone(std::io::Error),
}

impl ClientError {
    pub fn fatal(code: SqlState, message: impl Into<String>) -> Self {
        ClientError::Fatal(PgError::fatal(code, message))
    }

    pub fn protocol(e: ProtoError) -> Self {
        ClientError::Fatal(PgError::fatal(e.sqlstate(), e.client_message()))
    }

    /// Text for the "closing because" log line.
    pub fn reason(&self) -> String {
        match self {
            ClientError::Fatal(e) => e.message.clone(),
            ClientError::Gone(e) => format!("client connection lost: {e}"),
        }
    }
}

impl From<PoolerError> for ClientError {
    fn from(e: PoolerError) -> Self {
        ClientError::Fatal(e.to_pg())
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Gone(e)
    }
}

/// Write and clear `buf`.
pub async fn send(stream: &mut Stream, buf: &mut BytesMut) -> Result<(), ClientError> {
    stream.write_all(buf).await?;
    // A TLS stream may hold what it was given until flushed.
    stream.flush().await?;
    buf.clear();
    Ok(())
}

/// Read exactly one message of type `tag`, refusing anything bigger than
/// `max` before allocating for it.
pub async fn read_message(
    stream: &mut Stream,
    max: usize,
    tag: u8,
) -> Result<Message, ClientError> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).await?;
    let parsed = parse_header(&header, max)
        .map_err(ClientError::protocol)?
        .ok_or(ClientError::protocol(ProtoError::Malformed("short header")))?;
    if parsed.tag != tag {
        return Err(PoolerError::UnexpectedMessage {
            expected: tag,
            got: parsed.tag,
        }
        .into());
    }
    let mut body = vec![0u8; parsed.body_len];
    stream.read_exact(&mut body).await?;
    Ok(Message {
        tag: parsed.tag,
        body: Bytes::from(body),
    })
}

/// Send an error (if there is anyone to send it to) and say why we close.
pub async fn report(stream: &mut Stream, error: &ClientError) {
    if let ClientError::Fatal(e) = error {
        let mut buf = BytesMut::new();
        e.encode(&mut buf);
        let write = async {
            stream.write_all(&buf).await?;
            stream.flush().await
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
    }
}
