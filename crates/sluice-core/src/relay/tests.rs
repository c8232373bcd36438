//! Unit tests of the relay: `Half::scan` edits, and `pump` over in-memory
//! pipes for the release token.

use super::*;

/// Records tags and stops on Terminate.
struct Tags(Vec<u8>);
impl Observer for Tags {
    fn wants(&self, tag: u8, body_len: usize) -> usize {
        if tag == b'Z' {
            body_len
        } else {
            0
        }
    }
    fn on_message(&mut self, tag: u8, _len: usize, body: &[u8]) -> Result<Verdict, ProtoError> {
        if tag == b'Z' {
            assert_eq!(body, b"I");
        }
        self.0.push(tag);
        Ok(if tag == b'X' {
            Verdict::Stop
        } else {
            Verdict::Forward
        })
    }
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn scan_streams_large_messages_and_gathers_inspected_ones() {
    let mut half = Half::new();
    let mut obs = Tags(Vec::new());
    let big = msg(b'd', &[7u8; 100]);
    // Only part of the big message has arrived: it is forwardable as it streams.
    half.seed(&big[..40]);
    half.scan(&mut obs, 1 << 20).expect("scan");
    assert_eq!(half.ready, 40);
    assert_eq!(half.skip, big.len() - 40);
    half.seed(&big[40..]);
    // A ReadyForQuery split in the middle waits for its body.
    let z = msg(b'Z', b"I");
    half.seed(&z[..5]);
    half.scan(&mut obs, 1 << 20).expect("scan");
    assert_eq!(half.ready, big.len());
    assert_eq!(obs.0, vec![b'd']);
    half.seed(&z[5..]);
    half.scan(&mut obs, 1 << 20).expect("scan");
    assert_eq!(half.ready, big.len() + z.len());
    assert_eq!(obs.0, vec![b'd', b'Z']);
}

#[test]
fn stop_drops_the_message_and_everything_after() {
    let mut half = Half::new();
    let mut obs = Tags(Vec::new());
    let mut bytes = msg(b'Q', b"select 1\0");
    let keep = bytes.len();
    bytes.extend(msg(b'X', b""));
    bytes.extend(msg(b'Q', b"select 2\0"));
    half.seed(&bytes);
    half.scan(&mut obs, 1 << 20).expect("scan");
    assert!(half.stopped);
    assert_eq!(half.ready, keep);
    assert_eq!(half.buf.len(), keep);
}

#[test]
fn oversized_and_undersized_lengths_are_errors() {
    let mut half = Half::new();
    let mut obs = Tags(Vec::new());
    half.seed(&[b'Q', 0x7f, 0xff, 0xff, 0xff]);
    assert!(matches!(
        half.scan(&mut obs, 1 << 20),
        Err(ProtoError::TooLong { .. })
    ));
    let mut half = Half::new();
    half.seed(&[b'Q', 0, 0, 0, 3]);
    assert!(matches!(
        half.scan(&mut obs, 1 << 20),
        Err(ProtoError::TooShort { .. })
    ));
}

/// Renames the first message (prefix only), drops `3`, injects a `1`
/// before the next boundary once, and holds `H`.
struct Editor {
    injected: bool,
}
impl Observer for Editor {
    fn wants(&self, tag: u8, body_len: usize) -> usize {
        match tag {
            b'B' => 2,
            b'3' => body_len,
            _ => 0,
        }
    }
    fn on_message(&mut self, _: u8, _: usize, _: &[u8]) -> Result<Verdict, ProtoError> {
        Ok(Verdict::Forward)
    }
    fn on_message_out(
        &mut self,
        tag: u8,
        body_len: usize,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError> {
        Ok(match tag {
            b'B' => {
                // Replace the 2-byte prefix "ab" by "xyz": one longer.
                assert_eq!(body, b"ab");
                out.extend_from_slice(&[b'B', 0, 0, 0, (body_len + 5) as u8]);
                out.extend_from_slice(b"xyz");
                Verdict::Replace
            }
            b'3' => Verdict::Replace,
            b'H' => Verdict::Hold,
            _ => Verdict::Forward,
        })
    }
    fn inject(&mut self, out: &mut BytesMut) {
        if !self.injected {
            self.injected = true;
            out.extend_from_slice(&msg(b'1', b""));
        }
    }
}

#[test]
fn observers_can_rewrite_drop_inject_and_hold() {
    let mut half = Half::new();
    let mut obs = Editor { injected: false };
    let mut bytes = msg(b'B', b"abcd");
    bytes.extend(msg(b'3', b""));
    bytes.extend(msg(b'E', b"e"));
    bytes.extend(msg(b'H', b""));
    bytes.extend(msg(b'S', b""));
    half.seed(&bytes);
    half.scan(&mut obs, 1 << 20).expect("scan");
    let mut want = msg(b'1', b"");
    want.extend(msg(b'B', b"xyzcd"));
    want.extend(msg(b'E', b"e"));
    assert_eq!(&half.buf[..half.ready], &want[..]);
    assert!(half.held);
    // The held message and what follows stay, unscanned.
    assert_eq!(half.buf.len(), want.len() + 10);
}

/// Drives `pump` over in-memory pipes with the session's own policy
/// (tracker, no statement layer): the release token appears only
/// where invariant 1 holds.
mod pump_tests {
    use super::*;
    use crate::client::tracker::{LinkState, Tracker};
    use crate::params::VarCache;
    use crate::stream::memory_pair;
    use sluice_config::PoolMode;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sluice's side of a link; the tests hold the client app's and the
    /// backend's ends of the two pipes.
    struct Side {
        client: Stream,
        server: Stream,
        c2s: Half,
        s2c: Half,
        tracker: Tracker,
        vars: (VarCache, VarCache),
    }

    fn link_ends() -> (Side, Stream, Stream) {
        let (client_app, client) = memory_pair("client");
        let (server, backend) = memory_pair("server");
        let names: Arc<[String]> = Arc::from(Vec::<String>::new());
        let side = Side {
            client,
            server,
            c2s: Half::new(),
            s2c: Half::new(),
            tracker: Tracker::default(),
            vars: (VarCache::new(names.clone()), VarCache::new(names)),
        };
        (side, client_app, backend)
    }

    /// Runs the pump until it returns, or `None` once `wait` passed
    /// (paused time: the wait costs nothing), with the event and
    /// whether the link then stood at a clean point.
    async fn pump_for(
        side: &mut Side,
        mode: PoolMode,
        wait: Duration,
    ) -> Option<(PumpEvent, bool)> {
        let mut link = Link {
            client: &mut side.client,
            server: &mut side.server,
            c2s: &mut side.c2s,
            s2c: &mut side.s2c,
        };
        let mut policy = LinkState {
            tracker: &mut side.tracker,
            client_vars: &mut side.vars.0,
            server_vars: &mut side.vars.1,
            mode,
            statements: None,
        };
        let mut traffic = Traffic::default();
        let run = pump(&mut link, &mut policy, 1 << 20, &mut traffic);
        let event = tokio::time::timeout(wait, run).await.ok()?.expect("pump");
        let clean = link.clean_point(&policy).is_some();
        Some((event, clean))
    }

    /// The backend reads exactly `want`, then answers `reply`.
    async fn backend_answers(backend: &mut Stream, want: &[u8], reply: &[u8]) {
        let mut got = vec![0u8; want.len()];
        backend.read_exact(&mut got).await.expect("backend read");
        assert_eq!(got, want);
        backend.write_all(reply).await.expect("backend write");
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn half_sent_message_after_ready_for_query_holds_the_server() {
        let (mut side, mut app, mut backend) = link_ends();
        let query = msg(b'Q', b"select 1\0");
        let next = msg(b'Q', b"select 2\0");
        let mut sent = query.clone();
        sent.extend_from_slice(&next[..3]);
        app.write_all(&sent).await.expect("write");
        let ready = msg(b'Z', b"I");
        // The answer comes, but the client is in the middle of its next
        // message: no release point, the pump keeps the link.
        let (event, ()) = tokio::join!(
            pump_for(&mut side, PoolMode::Transaction, WAIT),
            backend_answers(&mut backend, &query, &ready)
        );
        assert_eq!(event, None);
        app.write_all(&next[3..]).await.expect("write");
        let (event, ()) = tokio::join!(
            pump_for(&mut side, PoolMode::Transaction, WAIT),
            backend_answers(&mut backend, &next[..], &ready)
        );
        let (event, clean) = event.expect("a release point");
        assert!(matches!(event, PumpEvent::ReleasePoint(_)), "{event:?}");
        assert!(clean);
    }

    #[tokio::test(start_paused = true)]
    async fn open_transaction_and_session_mode_give_no_release_point() {
        let (mut side, mut app, mut backend) = link_ends();
        let begin = msg(b'Q', b"begin\0");
        app.write_all(&begin).await.expect("write");
        let in_transaction = msg(b'Z', b"T");
        let (event, ()) = tokio::join!(
            pump_for(&mut side, PoolMode::Transaction, WAIT),
            backend_answers(&mut backend, &begin, &in_transaction)
        );
        assert_eq!(event, None, "inside a transaction block");
        let commit = msg(b'Q', b"commit\0");
        app.write_all(&commit).await.expect("write");
        let idle = msg(b'Z', b"I");
        let (event, ()) = tokio::join!(
            pump_for(&mut side, PoolMode::Session, WAIT),
            backend_answers(&mut backend, &commit, &idle)
        );
        // Idle now, but session mode keeps its server until the client goes.
        assert_eq!(event, None, "session mode");
        drop(app);
        let (event, clean) = pump_for(&mut side, PoolMode::Session, WAIT)
            .await
            .expect("client eof");
        assert_eq!(event, PumpEvent::ClientEof);
        assert!(clean, "the client left with everything answered");
    }

    #[tokio::test(start_paused = true)]
    async fn client_leaving_with_a_reply_owed_is_not_clean() {
        let (mut side, mut app, _backend) = link_ends();
        app.write_all(&msg(b'Q', b"select pg_sleep(9)\0"))
            .await
            .expect("write");
        drop(app);
        let (event, clean) = pump_for(&mut side, PoolMode::Transaction, WAIT)
            .await
            .expect("client eof");
        assert_eq!(event, PumpEvent::ClientEof);
        assert!(!clean);
    }
}
