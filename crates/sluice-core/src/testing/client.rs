//! A client speaking raw protocol to `client::serve` over a memory pipe.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use postgres_protocol::message::frontend;
use sluice_proto::frame::split_message;
use sluice_proto::tags::backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::shared::Shared;
use crate::stream::{memory_pair, Stream};

pub struct Client {
    pub stream: Stream,
    input: BytesMut,
    out: BytesMut,
}

impl Client {
    /// Connect to a new session of `shared` and log in; the welcome is read.
    pub async fn login(shared: &Arc<Shared>, db: &str, user: &str) -> Client {
        let (ours, theirs) = memory_pair("client");
        tokio::spawn(crate::client::serve(theirs, shared.clone()));
        let mut client = Client {
            stream: ours,
            input: BytesMut::new(),
            out: BytesMut::new(),
        };
        frontend::startup_message([("user", user), ("database", db)], &mut client.out)
            .expect("startup");
        let welcome = client.exchange().await;
        assert_eq!(welcome.last().map(|m| m.0), Some(backend::READY_FOR_QUERY));
        client
    }

    /// Buffer messages to send with [`Client::flush`].
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    pub async fn flush(&mut self) {
        self.stream.write_all(&self.out).await.expect("send");
        self.out.clear();
    }

    /// One message, or `None` at EOF.
    pub async fn recv(&mut self) -> Option<(u8, Bytes)> {
        loop {
            if let Some(m) = split_message(&mut self.input, 1 << 24).expect("framing") {
                return Some((m.tag, m.body));
            }
            if self.stream.read_buf(&mut self.input).await.ok()? == 0 {
                return None;
            }
        }
    }

    /// The tags of the next `n` messages.
    pub async fn recv_tags(&mut self, n: usize) -> String {
        let mut got = Vec::new();
        for _ in 0..n {
            got.push(self.recv().await.expect("message"));
        }
        tags(&got)
    }

    /// Send what is buffered and read up to the next ReadyForQuery.
    pub async fn exchange(&mut self) -> Vec<(u8, Bytes)> {
        self.flush().await;
        self.until_ready().await
    }

    pub async fn until_ready(&mut self) -> Vec<(u8, Bytes)> {
        let mut got = Vec::new();
        while let Some(m) = self.recv().await {
            let done = m.0 == backend::READY_FOR_QUERY;
            got.push(m);
            if done {
                return got;
            }
        }
        panic!("connection closed after {:?}", tags(&got));
    }

    /// Run simple queries; the tags of the reply, ending with `Z` + status.
    pub async fn query(&mut self, sql: &str) -> String {
        frontend::query(sql, &mut self.out).expect("query");
        tags(&self.exchange().await)
    }

    /// Parse (unnamed), Bind, Execute for `sql`, without Sync.
    pub fn extended(&mut self, sql: &str) {
        let out = &mut self.out;
        frontend::parse("", sql, [], out).expect("parse");
        let no_values: [Option<&[u8]>; 0] = [];
        let encode = |_: Option<&[u8]>, _: &mut BytesMut| Ok(postgres_protocol::IsNull::No);
        frontend::bind("", "", [], no_values, encode, [], out)
            .map_err(|_| ())
            .expect("bind");
        frontend::execute("", 0, out).expect("execute");
    }
}

/// Message tags as a string (`"TDCZ"`), a ReadyForQuery followed by its
/// status (`"Z:I"`), so a test compares a whole reply at once.
pub fn tags(messages: &[(u8, Bytes)]) -> String {
    let mut s = String::new();
    for (tag, body) in messages {
        s.push(char::from(*tag));
        if *tag == backend::READY_FOR_QUERY {
            s.push(':');
            s.push(char::from(body[0]));
        }
    }
    s
}
