//! The relay: moves bytes between a client and its linked server, looking
//! only at message headers, and stops at the exact point where the server
//! may be handed to someone else.
//!
//! Both directions are driven from one task in one `poll` function, so a
//! large pipeline can never deadlock (we keep reading the server while a
//! write to it is blocked) and no cross-task wake-up sits on the hot path.
//! Bytes are forwarded in runs: whatever one read returned, minus an
//! incomplete tail, goes out in one write. Only messages whose content
//! matters (ReadyForQuery, ParameterStatus, …) are gathered whole, and
//! those are capped; everything else streams through.
//!
//! An observer may also edit the stream, which the prepared-statement
//! layer needs: replace a gathered message (or its gathered prefix, the
//! rest of the body streaming on unchanged) with other bytes, drop it
//! (replace it with nothing), or insert bytes of its own at a message
//! boundary (`inject`, used for responses Sluice makes itself), or hold a
//! client message back until the server has answered what came before
//! (`Verdict::Hold`; the client is not read meanwhile). Edits are
//! done in place in the direction's buffer, so nothing is allocated per
//! message once the buffer has grown.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use sluice_proto::frame::{parse_header, HEADER_LEN};
use sluice_proto::ProtoError;
use tokio::io::AsyncWrite;
use tokio_util::io::poll_read_buf;

use crate::stream::Stream;

/// How much we ask the kernel for per read.
pub const READ_CHUNK: usize = 8 * 1024;
/// Largest message we gather whole to look inside (ParameterStatus,
/// ErrorResponse, …). Bigger ones are a protocol violation.
pub const MAX_INSPECTED: usize = 64 * 1024;
/// Largest named Parse gathered whole to be rewritten (queries can be
/// big). A bigger one is refused with 08P01 instead of buffered.
pub const MAX_REWRITTEN_PARSE: usize = 1024 * 1024;
/// Rounds of work per poll before yielding to other tasks (fairness,
/// like PgBouncer's `sbuf_loopcnt`).
const ROUNDS_PER_POLL: usize = 16;

/// What an observer wants done with a message whose header it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on.
    Forward,
    /// Do not forward it, and stop reading this direction: everything
    /// before it is flushed, then the pump reports `Stopped`.
    Stop,
    /// Send the bytes the observer wrote to `out` instead of the header
    /// and the gathered body bytes; the rest of the body (if only a prefix
    /// was gathered) streams on unchanged. Empty `out` drops a message
    /// that was gathered whole.
    Replace,
    /// Not yet: leave this message and everything after it unscanned
    /// until the other direction has made progress, then ask again.
    Hold,
}

/// The per-direction policy: which messages to look into, and what to do
/// on each. Implemented by the session for each side.
pub trait Observer {
    /// Body bytes that must be buffered before `on_message` sees the
    /// message; 0 means the header alone is enough.
    fn wants(&self, tag: u8, body_len: usize) -> usize;
    /// Called once per message, with the first `wants()` bytes of body.
    fn on_message(&mut self, tag: u8, body_len: usize, body: &[u8]) -> Result<Verdict, ProtoError>;
    /// Like `wants`, also seeing the body bytes already buffered (never
    /// past this message), so the first bytes can decide whether the rest
    /// is needed. Asked again whenever more bytes arrive.
    fn wants_seen(&self, tag: u8, body_len: usize, _seen: &[u8]) -> usize {
        self.wants(tag, body_len)
    }
    /// The most body bytes `wants` may ask for with this tag; asking for
    /// more is a protocol error.
    fn gather_cap(&self, _tag: u8) -> usize {
        MAX_INSPECTED
    }
    /// `on_message` with a buffer for `Verdict::Replace` (empty on entry).
    fn on_message_out(
        &mut self,
        tag: u8,
        body_len: usize,
        body: &[u8],
        _out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError> {
        self.on_message(tag, body_len, body)
    }
    /// Called at every message boundary: bytes appended to `out` go into
    /// the stream there, before the next message.
    fn inject(&mut self, _out: &mut BytesMut) {}
}

/// One direction's buffer: forwardable bytes at the front (`ready`), then
/// an incomplete tail still being gathered.
#[derive(Debug, Default)]
pub struct Half {
    pub buf: BytesMut,
    ready: usize,
    /// Bytes of a streamed message's body that have not arrived yet.
    skip: usize,
    stopped: bool,
    /// The observer held the next message back (`Verdict::Hold`).
    held: bool,
    /// Bytes were written since the last completed flush. TLS keeps
    /// written bytes in its own buffer when the socket is full, and only
    /// a flush pushes them out; a plain socket's flush returns at once.
    unflushed: bool,
    /// Where observers write replacement and injected bytes (reused).
    scratch: BytesMut,
}

impl Half {
    pub fn new() -> Self {
        Half::default()
    }

    /// Nothing buffered and nothing half-read: a clean boundary.
    pub fn is_idle(&self) -> bool {
        self.buf.is_empty() && self.skip == 0 && !self.unflushed
    }

    /// Forget everything (after the connection was broken).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.ready = 0;
        self.skip = 0;
        self.stopped = false;
        self.unflushed = false;
        self.held = false;
    }

    /// Release memory of a buffer that grew large for one big message.
    pub fn shrink(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 4 * READ_CHUNK {
            self.buf = BytesMut::new();
        }
        if self.scratch.capacity() > 4 * READ_CHUNK {
            self.scratch = BytesMut::new();
        }
    }

    /// Scan newly arrived bytes, advancing `ready` over complete runs.
    pub fn scan(&mut self, obs: &mut impl Observer, max_len: usize) -> Result<(), ProtoError> {
        self.held = false;
        while !self.stopped {
            let available = self.buf.len() - self.ready;
            if self.skip > 0 {
                let n = self.skip.min(available);
                if n == 0 {
                    return Ok(());
                }
                self.ready += n;
                self.skip -= n;
                continue;
            }
            // A message boundary: the observer may insert bytes here.
            self.scratch.clear();
            obs.inject(&mut self.scratch);
            if !self.scratch.is_empty() {
                splice(&mut self.buf, self.ready, self.ready, &self.scratch);
                self.ready += self.scratch.len();
                continue;
            }
            let Some(header) = parse_header(&self.buf[self.ready..], max_len)? else {
                return Ok(());
            };
            let body_start = self.ready + HEADER_LEN;
            let seen_end = self.buf.len().min(body_start + header.body_len);
            let seen = self.buf.get(body_start..seen_end).unwrap_or(&[]);
            let want = obs.wants_seen(header.tag, header.body_len, seen);
            let cap = obs.gather_cap(header.tag);
            if want > cap {
                return Err(ProtoError::TooLong {
                    len: header.total_len(),
                    max: cap,
                });
            }
            let want = want.min(header.body_len);
            if available < HEADER_LEN + want {
                return Ok(());
            }
            self.scratch.clear();
            let verdict = obs.on_message_out(
                header.tag,
                header.body_len,
                &self.buf[body_start..body_start + want],
                &mut self.scratch,
            )?;
            match verdict {
                Verdict::Forward => {
                    let total = header.total_len();
                    let here = total.min(available);
                    self.ready += here;
                    self.skip = total - here;
                }
                Verdict::Replace => {
                    let start = self.ready;
                    splice(&mut self.buf, start, body_start + want, &self.scratch);
                    self.ready = start + self.scratch.len();
                    let rest = header.body_len - want;
                    let here = rest.min(self.buf.len() - self.ready);
                    self.ready += here;
                    self.skip = rest - here;
                }
                Verdict::Stop => {
                    self.stopped = true;
                    self.buf.truncate(self.ready);
                }
                Verdict::Hold => {
                    self.held = true;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Append bytes read elsewhere (the first bytes of an idle client).
    pub fn seed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Write what is ready, then flush once all of it is written. Ready
    /// with the bytes written (0 when only a flush completed).
    fn poll_flush_to(&mut self, cx: &mut Context<'_>, out: &mut Stream) -> Poll<io::Result<usize>> {
        let mut n = 0;
        if self.ready > 0 {
            n = std::task::ready!(Pin::new(&mut *out).poll_write(cx, &self.buf[..self.ready]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.buf.advance(n);
            self.ready -= n;
            self.unflushed = true;
        }
        if self.ready == 0 && self.unflushed {
            match Pin::new(out).poll_flush(cx) {
                Poll::Ready(r) => {
                    r?;
                    self.unflushed = false;
                }
                Poll::Pending if n == 0 => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_fill_from(
        &mut self,
        cx: &mut Context<'_>,
        input: &mut Stream,
    ) -> Poll<io::Result<usize>> {
        self.buf.reserve(READ_CHUNK);
        poll_read_buf(Pin::new(input), cx, &mut self.buf)
    }
}

/// Replace `buf[start..end]` with `with`, moving the tail in place.
fn splice(buf: &mut BytesMut, start: usize, end: usize, with: &[u8]) {
    let len = buf.len();
    let removed = end - start;
    if with.len() > removed {
        let grow = with.len() - removed;
        buf.resize(len + grow, 0);
        buf.copy_within(end..len, end + grow);
    } else if with.len() < removed {
        let shrink = removed - with.len();
        buf.copy_within(end..len, end - shrink);
        buf.truncate(len - shrink);
    }
    buf[start..start + with.len()].copy_from_slice(with);
}

/// Proof that a link stood at a clean point (invariant 1): every request
/// answered, the last server message ReadyForQuery 'I', nothing buffered
/// or half-read in either direction, no response of Sluice's own still
/// due. [`crate::pool::PooledServer::release`] takes one, so a server can
/// only go back to the pool from a point the relay has checked.
///
/// Made in three places only: [`Link::clean_point`] (the relay's check),
/// a server login or internal query that ended in ReadyForQuery 'I'
/// (`ServerConn`), and a checkout no client traffic went through.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a clean point is only worth something if the server is released with it"]
pub struct CleanPoint {
    _witnessed: (),
}

impl CleanPoint {
    /// Only for the places listed on the type, each of which has just
    /// seen ReadyForQuery 'I' with nothing else in flight.
    pub(crate) fn witnessed() -> CleanPoint {
        CleanPoint { _witnessed: () }
    }
}

/// Why the pump returned.
#[derive(Debug, PartialEq, Eq)]
pub enum PumpEvent {
    /// The server may be given back here (transaction and statement
    /// mode); both directions are flushed and empty.
    ReleasePoint(CleanPoint),
    /// The client side stopped (Terminate) and everything before was sent.
    ClientStopped,
    /// The server side stopped on a message its observer refused.
    ServerStopped,
    /// The client closed its socket.
    ClientEof,
    /// The server closed its socket.
    ServerEof,
}

/// Which side an error came from: the session treats them differently
/// (a broken server is discarded; a broken client just leaves).
#[derive(Debug, thiserror::Error)]
pub enum PumpError {
    #[error("client connection: {0}")]
    ClientIo(io::Error),
    #[error("server connection: {0}")]
    ServerIo(io::Error),
    #[error("client protocol: {0}")]
    ClientProtocol(ProtoError),
    #[error("server protocol: {0}")]
    ServerProtocol(ProtoError),
}

/// Bytes moved by one pump run, for statistics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    pub from_client: u64,
    pub to_client: u64,
}

/// Everything the pump asks of the session about one link: which
/// messages to look into in each direction, what to do with them, and
/// whether the current point is a release point. One value sees both
/// directions, because a release depends on both.
pub trait LinkPolicy {
    /// Body bytes of a client message to gather, having seen `seen`.
    fn client_wants(&self, tag: u8, body_len: usize, seen: &[u8]) -> usize;
    /// Largest `client_wants` allowed for `tag`.
    fn client_cap(&self, _tag: u8) -> usize {
        MAX_INSPECTED
    }
    fn on_client(
        &mut self,
        tag: u8,
        body_len: usize,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError>;
    fn server_wants(&self, tag: u8, body_len: usize, seen: &[u8]) -> usize;
    fn on_server(
        &mut self,
        tag: u8,
        body_len: usize,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError>;
    /// Bytes of Sluice's own to put into the server → client stream at
    /// the current boundary (responses it answers itself).
    fn inject_to_client(&mut self, _out: &mut BytesMut) {}
    /// Everything sent has been answered and the server said
    /// ReadyForQuery 'I' last; asked only when both directions are
    /// flushed and empty. The one definition of "clean" (invariant 1).
    fn is_idle(&self) -> bool;
    /// Whether an idle link gives its server back on its own (false in
    /// session mode: the server stays until the client leaves).
    fn releases_when_idle(&self) -> bool;
}

/// One direction of a policy as a half's observer: `FROM_SERVER` picks
/// the server → client methods. A const parameter, so each direction is
/// its own monomorphic code with no branch per message.
struct View<'a, P, const FROM_SERVER: bool>(&'a mut P);
/// `View::<_, CLIENT>` reads what the client sends; `SERVER`, the server.
const CLIENT: bool = false;
const SERVER: bool = true;

impl<P: LinkPolicy, const FROM_SERVER: bool> Observer for View<'_, P, FROM_SERVER> {
    fn wants(&self, tag: u8, body_len: usize) -> usize {
        self.wants_seen(tag, body_len, &[])
    }
    fn wants_seen(&self, tag: u8, body_len: usize, seen: &[u8]) -> usize {
        if FROM_SERVER {
            self.0.server_wants(tag, body_len, seen)
        } else {
            self.0.client_wants(tag, body_len, seen)
        }
    }
    fn gather_cap(&self, tag: u8) -> usize {
        if FROM_SERVER {
            MAX_INSPECTED
        } else {
            self.0.client_cap(tag)
        }
    }
    fn on_message(&mut self, tag: u8, body_len: usize, body: &[u8]) -> Result<Verdict, ProtoError> {
        self.on_message_out(tag, body_len, body, &mut BytesMut::new())
    }
    fn on_message_out(
        &mut self,
        tag: u8,
        body_len: usize,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError> {
        if FROM_SERVER {
            self.0.on_server(tag, body_len, body, out)
        } else {
            self.0.on_client(tag, body_len, body, out)
        }
    }
    fn inject(&mut self, out: &mut BytesMut) {
        if FROM_SERVER {
            self.0.inject_to_client(out);
        }
    }
}

/// The two sockets and two buffers of one link.
pub struct Link<'a> {
    pub client: &'a mut Stream,
    pub server: &'a mut Stream,
    pub c2s: &'a mut Half,
    pub s2c: &'a mut Half,
}

impl Link<'_> {
    /// A [`CleanPoint`] if the link is at one now: nothing buffered or
    /// half-read either way, and the policy says every request was
    /// answered. Used at release points and when a client leaves.
    pub fn clean_point(&self, policy: &impl LinkPolicy) -> Option<CleanPoint> {
        clean_point(self.c2s, self.s2c, policy)
    }
}

/// The one check behind every [`CleanPoint`] the relay makes.
fn clean_point(c2s: &Half, s2c: &Half, policy: &impl LinkPolicy) -> Option<CleanPoint> {
    (c2s.is_idle() && s2c.is_idle() && policy.is_idle()).then(CleanPoint::witnessed)
}

/// Relay until an event. Cancel-safe: all state lives in the halves and
/// the policy, so the future may be dropped between polls (to race it
/// against timers) and started again.
pub async fn pump<P: LinkPolicy>(
    link: &mut Link<'_>,
    policy: &mut P,
    max_len: usize,
    traffic: &mut Traffic,
) -> Result<PumpEvent, PumpError> {
    // Bytes seeded before the pump started still need scanning.
    link.c2s
        .scan(&mut View::<_, CLIENT>(policy), max_len)
        .map_err(PumpError::ClientProtocol)?;
    link.s2c
        .scan(&mut View::<_, SERVER>(policy), max_len)
        .map_err(PumpError::ServerProtocol)?;
    poll_fn(|cx| poll_pump(cx, link, policy, max_len, traffic)).await
}

fn poll_pump<P: LinkPolicy>(
    cx: &mut Context<'_>,
    link: &mut Link<'_>,
    policy: &mut P,
    max_len: usize,
    traffic: &mut Traffic,
) -> Poll<Result<PumpEvent, PumpError>> {
    let Link {
        client,
        server,
        c2s,
        s2c,
    } = link;
    for _ in 0..ROUNDS_PER_POLL {
        let mut progress = false;

        // Server → client.
        if s2c.ready > 0 || s2c.unflushed {
            if let Poll::Ready(r) = s2c.poll_flush_to(cx, client) {
                traffic.to_client += r.map_err(PumpError::ClientIo)? as u64;
                progress = true;
            }
        }
        if s2c.ready == 0 && s2c.stopped {
            if !s2c.unflushed {
                return Poll::Ready(Ok(PumpEvent::ServerStopped));
            }
        } else if s2c.ready == 0 {
            if policy.releases_when_idle() {
                if let Some(clean) = clean_point(c2s, s2c, policy) {
                    return Poll::Ready(Ok(PumpEvent::ReleasePoint(clean)));
                }
            }
            if let Poll::Ready(r) = s2c.poll_fill_from(cx, server) {
                if r.map_err(PumpError::ServerIo)? == 0 {
                    return Poll::Ready(Ok(PumpEvent::ServerEof));
                }
                s2c.scan(&mut View::<_, SERVER>(policy), max_len)
                    .map_err(PumpError::ServerProtocol)?;
                if c2s.held {
                    // What the client message waited for may have come.
                    c2s.scan(&mut View::<_, CLIENT>(policy), max_len)
                        .map_err(PumpError::ClientProtocol)?;
                    s2c.scan(&mut View::<_, SERVER>(policy), max_len)
                        .map_err(PumpError::ServerProtocol)?;
                }
                progress = true;
            }
        }

        // Client → server.
        if c2s.ready > 0 || c2s.unflushed {
            if let Poll::Ready(r) = c2s.poll_flush_to(cx, server) {
                r.map_err(PumpError::ServerIo)?;
                progress = true;
            }
        }
        // A held message waits for the server; reading more from the
        // client meanwhile would only buffer without bound.
        if c2s.ready == 0 && !c2s.held {
            if c2s.stopped {
                if !c2s.unflushed {
                    return Poll::Ready(Ok(PumpEvent::ClientStopped));
                }
            } else if let Poll::Ready(r) = c2s.poll_fill_from(cx, client) {
                let n = r.map_err(PumpError::ClientIo)?;
                if n == 0 {
                    return Poll::Ready(Ok(PumpEvent::ClientEof));
                }
                traffic.from_client += n as u64;
                c2s.scan(&mut View::<_, CLIENT>(policy), max_len)
                    .map_err(PumpError::ClientProtocol)?;
                // Client messages may have queued responses of Sluice's
                // own that are due now (nothing owed before them).
                s2c.scan(&mut View::<_, SERVER>(policy), max_len)
                    .map_err(PumpError::ServerProtocol)?;
                progress = true;
            }
        }

        if !progress {
            return Poll::Pending;
        }
    }
    // Used our share: let other clients run, then come back.
    cx.waker().wake_by_ref();
    Poll::Pending
}

#[cfg(test)]
mod tests;
