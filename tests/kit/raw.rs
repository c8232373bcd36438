//! A bare-bones protocol client for tests that need exact control of the
//! bytes on the wire (Flush without Sync, dropping a socket mid-transaction,
//! comparing a pooler's replies with a direct server's). Trust auth only.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One backend message: type byte and body.
pub type Msg = (u8, Vec<u8>);

pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// Encode one frontend message.
pub fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

pub fn query(sql: &str) -> Vec<u8> {
    msg(b'Q', &cstr(sql))
}

/// Parse of an unnamed (or named) statement with no parameter types.
pub fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut body = cstr(name);
    body.extend(cstr(sql));
    body.extend_from_slice(&0u16.to_be_bytes());
    msg(b'P', &body)
}

/// Bind the statement to the unnamed portal, no parameters, text results.
pub fn bind(statement: &str) -> Vec<u8> {
    let mut body = cstr("");
    body.extend(cstr(statement));
    body.extend_from_slice(&0u16.to_be_bytes()); // parameter formats
    body.extend_from_slice(&0u16.to_be_bytes()); // parameters
    body.extend_from_slice(&0u16.to_be_bytes()); // result formats
    msg(b'B', &body)
}

pub fn describe_portal() -> Vec<u8> {
    msg(b'D', b"P\0")
}

pub fn execute() -> Vec<u8> {
    let mut body = cstr("");
    body.extend_from_slice(&0u32.to_be_bytes());
    msg(b'E', &body)
}

pub fn sync() -> Vec<u8> {
    msg(b'S', b"")
}

pub fn flush() -> Vec<u8> {
    msg(b'H', b"")
}

impl RawClient {
    /// Connect and log in (trust), reading up to the first ReadyForQuery.
    pub async fn connect(port: u16, user: &str, db: &str) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("raw connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut body = 0x0003_0000u32.to_be_bytes().to_vec();
        for (k, v) in [("user", user), ("database", db)] {
            body.extend(cstr(k));
            body.extend(cstr(v));
        }
        body.push(0);
        let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        packet.extend(body);
        let mut client = RawClient {
            stream,
            buf: Vec::new(),
        };
        client.send(&packet).await;
        let login = client.read_until(b'Z').await;
        assert!(
            login.iter().any(|(t, _)| *t == b'R'),
            "no AuthenticationOk: {login:?}"
        );
        client
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("raw send");
    }

    /// Read one message (10 s limit).
    pub async fn read(&mut self) -> Msg {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes(self.buf[1..5].try_into().expect("4 bytes")) as usize;
                if self.buf.len() > len {
                    let tag = self.buf[0];
                    let body = self.buf[5..1 + len].to_vec();
                    self.buf.drain(..1 + len);
                    return (tag, body);
                }
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                .await
                .expect("raw read timed out")
                .expect("raw read");
            assert!(n > 0, "connection closed; buffered {:?}", self.buf);
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Read messages up to and including the first of type `tag`.
    pub async fn read_until(&mut self, tag: u8) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            let m = self.read().await;
            let done = m.0 == tag;
            out.push(m);
            if done {
                return out;
            }
        }
    }
}

/// The type bytes of `msgs`, as a string ("1T2DCZ"), for comparisons.
pub fn tags(msgs: &[Msg]) -> String {
    msgs.iter().map(|(t, _)| *t as char).collect()
}
