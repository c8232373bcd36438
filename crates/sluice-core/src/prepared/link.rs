//! The statement layer of one link (a client linked to a server): rewrites
//! the client's Parse/Bind/Describe/Close, and keeps an ordered queue of
//! what the server will answer so Sluice's own responses go out in the
//! right place and hidden ones never reach the client.
//!
//! The queue holds one item per request that gets (or, for Sluice's
//! fakes, stands for) a response, in the order the server will answer.
//! Server messages end the head item by type: `1` a Parse, `2` a Bind,
//! `T`/`n` a Describe, `C`/`I`/`s` an Execute, `3` a Close, `Z` a
//! Sync/Query/FunctionCall; `N`/`S`/`A` may come anywhere and end nothing.
//! Fakes are written into the stream as soon as they reach the head, i.e.
//! right after the last response owed before them.
//!
//! After an ErrorResponse to an extended-protocol message the server
//! discards everything up to the next Sync, answering none of it. The
//! items up to that Sync are dropped the same way: their fakes are not
//! sent and their bookkeeping is taken back (a skipped Parse leaves no
//! statement on the server nor a name for the client; a skipped Close
//! leaves both). If the Sync has not arrived yet, messages are forwarded
//! unchanged and untracked until it does, as the server ignores them.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use sluice_proto::{PgError, ProtoError};

use super::cache::{ServerStatements, SlotState};
use super::client::ClientStatements;
use super::messages::{self as m, Deallocate};
use super::registry::{Registry, Statement};
use crate::errors::PoolerError;
use crate::relay::{Verdict, MAX_INSPECTED};
use sluice_proto::tags::{backend as B, frontend as F, status, target};

/// Bytes of a Query or unnamed Parse looked at to spot a DEALLOCATE, and
/// of a CommandComplete to spot DISCARD ALL / DEALLOCATE ALL.
const PEEK: usize = 64;
/// Longest query still checked for being a DEALLOCATE.
const MAX_DEALLOCATE_QUERY: usize = 4096;
/// A name nobody prepares: a Describe of it always fails, which puts the
/// server into skip-to-Sync exactly where a Sluice-made error stands (so
/// the transaction aborts as it would on Postgres). Its ErrorResponse is
/// replaced by Sluice's.
const NO_SUCH_STATEMENT: &[u8] = b" sluice: no such statement";

/// Bookkeeping to take back if the server skips (or rejects) a message.
/// Boxed, as almost no message has any: queue items stay small, and so
/// does what a session keeps between transactions.
type Undo = Option<Box<UndoKind>>;

#[derive(Debug)]
enum UndoKind {
    /// A Parse mapped this name.
    Forget { name: Box<[u8]>, token: u64 },
    /// A Close/DEALLOCATE unmapped this name (mapping `token`).
    Restore {
        name: Box<[u8]>,
        statement: Arc<Statement>,
        token: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fake {
    ParseComplete,
    CloseComplete,
    /// CommandComplete "DEALLOCATE" and ReadyForQuery, for a SQL
    /// DEALLOCATE of a statement the server only has under our name.
    Deallocated,
}

#[derive(Debug)]
enum Pending {
    /// Sync, Query or FunctionCall: answered by ReadyForQuery, and the end
    /// of error skipping. `epoch`: the client's newest mapping when sent.
    Ready { epoch: u64 },
    /// A client message the server answers itself; `tag` is the client
    /// message's type.
    Pass {
        tag: u8,
        statement: Option<Arc<Statement>>,
        undo: Undo,
        epoch: u64,
    },
    /// A Parse under Sluice's name.
    ServerParse {
        statement: Arc<Statement>,
        hidden: bool,
        undo: Undo,
    },
    /// A Close sent by Sluice (eviction, or before its own Parse); its
    /// CloseComplete is hidden.
    HiddenClose,
    /// A response Sluice makes, sent when it reaches the head.
    Fake { kind: Fake, undo: Undo },
    /// The failing Describe sent for a Sluice-made error.
    FailWith(Box<PgError>),
    /// An unnamed Parse of a text only to have it checked (its errors
    /// reach the client; its ParseComplete does not).
    Probe,
}

/// Per-link counters, added to the pool's stats when the link ends.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub client_parses: u64,
    pub server_parses: u64,
    pub binds: u64,
}

/// State of one link; empty again at every release point.
#[derive(Debug)]
pub struct LinkStatements {
    queue: VecDeque<Pending>,
    /// The server is discarding messages until a Sync not yet seen.
    skipping: bool,
    /// Transaction status of the last ReadyForQuery.
    status: u8,
    /// Sync segments: `segment` counts those sent (the current one is
    /// still open), `resolved` those answered.
    segment: u64,
    resolved: u64,
    /// Names whose mapping changed in a segment that may still be
    /// skipped, with that segment: a later segment must not decide on
    /// them before it is answered.
    uncertain: Vec<(Box<[u8]>, u64)>,
    /// Segment of the last DISCARD ALL / DEALLOCATE ALL sent: until it is
    /// answered, later segments wait before naming statements (the server
    /// drops ours when it runs).
    reset_segment: Option<u64>,
    pub counts: Counts,
}

impl Default for LinkStatements {
    fn default() -> Self {
        LinkStatements {
            queue: VecDeque::new(),
            skipping: false,
            // Links start on an idle server.
            status: status::IDLE,
            segment: 0,
            resolved: 0,
            uncertain: Vec::new(),
            reset_segment: None,
            counts: Counts::default(),
        }
    }
}

impl LinkStatements {
    /// Start a new link, keeping the buffers' memory.
    pub fn reset(&mut self) {
        self.queue.clear();
        // After a pipeline, do not keep its queue for an idle client.
        if self.queue.capacity() > 16 {
            self.queue = VecDeque::new();
        }
        self.skipping = false;
        self.status = status::IDLE;
        self.segment = 0;
        self.resolved = 0;
        self.uncertain.clear();
        self.reset_segment = None;
        self.counts = Counts::default();
    }

    /// Nothing owed and nothing of ours left to send.
    pub fn is_settled(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Everything the statement layer touches while relaying one link.
pub struct Statements<'a> {
    pub registry: &'a Registry,
    pub client: &'a mut ClientStatements,
    pub server: &'a mut ServerStatements,
    pub link: &'a mut LinkStatements,
    /// `max_prepared_statements`: the server cache's bound.
    pub max: usize,
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn is_ready(p: &Pending) -> bool {
    matches!(p, Pending::Ready { .. })
}

impl Statements<'_> {
    /// Body bytes of a client message to gather.
    pub fn client_wants(&self, tag: u8, body_len: usize, seen: &[u8]) -> usize {
        match tag {
            F::PARSE => match seen.first() {
                None => body_len.min(1),
                // Unnamed: streams, unless it may be a DEALLOCATE.
                Some(0) => {
                    let peek = body_len.min(PEEK);
                    let text = &seen[1..];
                    if seen.len() >= peek
                        && body_len <= MAX_DEALLOCATE_QUERY
                        && (m::may_be_deallocate(text) || m::may_be_discard(text))
                    {
                        body_len
                    } else {
                        peek
                    }
                }
                Some(_) => body_len,
            },
            F::BIND => body_len.min(MAX_INSPECTED),
            F::DESCRIBE | F::CLOSE => body_len,
            F::QUERY => {
                let peek = body_len.min(PEEK);
                if seen.len() < peek {
                    peek
                } else if body_len <= MAX_DEALLOCATE_QUERY
                    && (m::may_be_deallocate(seen) || m::may_be_discard(seen))
                {
                    body_len
                } else {
                    0
                }
            }
            _ => 0,
        }
    }

    /// Body bytes of a server message to gather.
    pub fn server_wants(&self, tag: u8, body_len: usize) -> usize {
        match tag {
            B::ERROR_RESPONSE => body_len.min(MAX_INSPECTED),
            B::COMMAND_COMPLETE => body_len.min(PEEK),
            _ => 0,
        }
    }

    fn push(&mut self, p: Pending) {
        if is_ready(&p) {
            self.link.segment += 1;
        }
        self.link.queue.push_back(p);
    }

    /// A name's mapping changed in the current segment.
    fn changed(&mut self, name: &[u8]) {
        let segment = self.link.segment;
        match self.link.uncertain.iter_mut().find(|(n, _)| &**n == name) {
            Some(entry) => entry.1 = segment,
            None => self.link.uncertain.push((name.into(), segment)),
        }
    }

    /// Whether a statement our Parse is still on its way for counts as
    /// there: only within the same segment (if that Parse is skipped, so
    /// is everything after it up to the Sync).
    fn present(&self, slot: Option<(SlotState, u64)>) -> bool {
        match slot {
            Some((SlotState::Ready, _)) => true,
            Some((SlotState::Sent, segment)) => segment == self.link.segment,
            _ => false,
        }
    }

    /// Whether the client message must wait: it names a statement whose
    /// mapping changed in an earlier segment the server has not answered
    /// yet, and which may still be skipped (so whether the name exists
    /// is not known). Rare; pipelines of one segment never wait.
    pub fn must_wait(&self, tag: u8, body: &[u8]) -> bool {
        if self.link.skipping {
            return false;
        }
        if tag == F::QUERY && self.deallocate_waits(body) {
            return true;
        }
        let (resolved, current) = (self.link.resolved, self.link.segment);
        if let Some(s) = self.link.reset_segment {
            if s >= resolved && s < current && names_a_statement(tag, body) {
                return true;
            }
        }
        if self.link.uncertain.is_empty() {
            return false;
        }
        let name = match tag {
            F::PARSE => m::split_cstr(body).ok().map(|(n, _)| n),
            F::BIND => m::parse_bind_names(body).ok().map(|(_, n, _)| n),
            F::DESCRIBE | F::CLOSE => m::parse_target(body)
                .ok()
                .filter(|(kind, _)| *kind == target::STATEMENT)
                .map(|(_, n)| n),
            _ => None,
        };
        let pending = |n: &[u8]| {
            self.link
                .uncertain
                .iter()
                .any(|(u, s)| &**u == n && *s >= resolved && *s < current)
        };
        match name {
            Some(n) if !n.is_empty() => pending(n),
            // A DEALLOCATE in a query or an unnamed Parse.
            _ => {
                let text = match tag {
                    F::QUERY => Some(body),
                    F::PARSE => m::parse_parse(body)
                        .ok()
                        .and_then(|(_, key)| m::split_cstr(key).ok())
                        .map(|(query, _)| query),
                    _ => None,
                };
                match text.and_then(m::parse_deallocate) {
                    Some(Deallocate::Name(n)) => pending(&n),
                    _ => false,
                }
            }
        }
    }

    /// A lone `DEALLOCATE name` query of a client statement is answered
    /// here, which needs the transaction status: when it comes behind
    /// requests still being answered, it waits for them (it is a round
    /// trip anyway). Not when extended messages are unsynced before it:
    /// their Sync may never come before the query's answer.
    fn deallocate_waits(&self, body: &[u8]) -> bool {
        let behind_answers = matches!(self.link.queue.back(), Some(p) if is_ready(p));
        behind_answers
            && matches!(m::parse_deallocate(body), Some(Deallocate::Name(n)) if self.client.get(&n).is_some())
    }

    fn pass(&mut self, tag: u8, statement: Option<Arc<Statement>>, undo: Undo) {
        let epoch = self.client.epoch();
        self.push(Pending::Pass {
            tag,
            statement,
            undo,
            epoch,
        });
    }

    /// A client message. `quiet`: nothing was owed or unsynced before it.
    pub fn on_client(
        &mut self,
        tag: u8,
        body_len: usize,
        body: &[u8],
        out: &mut BytesMut,
        quiet: bool,
    ) -> Result<Verdict, ProtoError> {
        if self.link.skipping {
            // The server ignores all of it up to the Sync; so do we.
            if tag == F::SYNC {
                self.link.skipping = false;
                let epoch = self.client.epoch();
                self.push(Pending::Ready { epoch });
            }
            return Ok(Verdict::Forward);
        }
        match tag {
            F::PARSE => self.on_parse(body_len, body, out),
            F::BIND => self.on_bind(body_len, body, out),
            F::DESCRIBE => self.on_describe(body, out),
            F::CLOSE => self.on_close(body),
            F::EXECUTE => {
                self.pass(F::EXECUTE, None, None);
                Ok(Verdict::Forward)
            }
            F::SYNC | F::FUNCTION_CALL => {
                let epoch = self.client.epoch();
                self.push(Pending::Ready { epoch });
                Ok(Verdict::Forward)
            }
            F::QUERY => Ok(self.on_query(body_len, body, out, quiet)),
            _ => Ok(Verdict::Forward),
        }
    }

    fn on_parse(
        &mut self,
        body_len: usize,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError> {
        if matches!(body.first(), None | Some(0)) {
            return Ok(self.on_unnamed_parse(body_len, body, out));
        }
        let (name, key) = m::parse_parse(body)?;
        self.link.counts.client_parses += 1;
        if self.client.get(name).is_some() {
            // As Postgres: the text is parsed first (a syntax error wins),
            // then 42P05, and the server skips to Sync.
            let error = PoolerError::PreparedStatementExists(lossy(name)).to_pg();
            m::put_parse(out, b"", key);
            self.push(Pending::Probe);
            m::put_target(out, F::DESCRIBE, target::STATEMENT, NO_SUCH_STATEMENT);
            self.push(Pending::FailWith(Box::new(error)));
            return Ok(Verdict::Replace);
        }
        let statement = self.registry.get_or_insert(key);
        let token = self.client.insert(name, statement.clone());
        self.changed(name);
        let undo = Some(Box::new(UndoKind::Forget {
            name: name.into(),
            token,
        }));
        let slot = self.server.touch(statement.id);
        // In a failed transaction Postgres refuses a Parse (25P02): let
        // the server answer it then.
        if self.present(slot) && self.link.status != status::FAILED_TRANSACTION {
            self.push(Pending::Fake {
                kind: Fake::ParseComplete,
                undo,
            });
        } else {
            self.send_parse(statement, false, undo, out);
        }
        Ok(Verdict::Replace)
    }

    /// An unnamed Parse passes untouched, except `DEALLOCATE name` of a
    /// statement the client has: that becomes a DEALLOCATE of our name
    /// (prepared first if need be), so it succeeds as on Postgres.
    fn on_unnamed_parse(&mut self, body_len: usize, body: &[u8], out: &mut BytesMut) -> Verdict {
        if let Some((name, statement, rest)) = self.deallocated_in_parse(body_len, body) {
            self.ensure(&statement, out);
            self.server.remove(statement.id);
            let token = self.client.take(&name).map_or(0, |(_, t)| t);
            self.changed(&name);
            let mut key = deallocate_sql(&statement).into_bytes();
            key.push(0);
            key.extend_from_slice(rest);
            m::put_parse(out, b"", &key);
            self.pass(
                F::PARSE,
                None,
                Some(Box::new(UndoKind::Restore {
                    name: name.into(),
                    statement,
                    token,
                })),
            );
            return Verdict::Replace;
        }
        if body.len() == body_len {
            let query = m::parse_parse(body)
                .ok()
                .and_then(|(_, key)| m::split_cstr(key).ok());
            if query.is_some_and(|(q, _)| m::is_reset_all(q)) {
                self.link.reset_segment = Some(self.link.segment);
            }
        }
        self.pass(F::PARSE, None, None);
        Verdict::Forward
    }

    fn deallocated_in_parse<'b>(
        &self,
        body_len: usize,
        body: &'b [u8],
    ) -> Option<(Vec<u8>, Arc<Statement>, &'b [u8])> {
        if body.len() != body_len {
            return None;
        }
        let (_, key) = m::parse_parse(body).ok()?;
        let (query, rest) = m::split_cstr(key).ok()?;
        let Deallocate::Name(name) = m::parse_deallocate(query)? else {
            return None;
        };
        let statement = self.client.get(&name)?.clone();
        Some((name, statement, rest))
    }

    fn on_bind(
        &mut self,
        body_len: usize,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError> {
        let (portal, name, after) = m::parse_bind_names(body)?;
        if name.is_empty() {
            self.pass(F::BIND, None, None);
            return Ok(Verdict::Forward);
        }
        self.link.counts.binds += 1;
        let Some(statement) = self.client.get(name).cloned() else {
            // Unknown to the client: the server says 26000 with the
            // client's own name, exactly as Postgres would.
            self.pass(F::BIND, None, None);
            return Ok(Verdict::Forward);
        };
        self.ensure(&statement, out);
        m::put_renamed_bind(
            out,
            body_len,
            body,
            portal,
            name.len(),
            &statement.name,
            after,
        );
        self.pass(F::BIND, Some(statement), None);
        Ok(Verdict::Replace)
    }

    fn on_describe(&mut self, body: &[u8], out: &mut BytesMut) -> Result<Verdict, ProtoError> {
        let (kind, name) = m::parse_target(body)?;
        if kind == target::STATEMENT && !name.is_empty() {
            if let Some(statement) = self.client.get(name).cloned() {
                self.ensure(&statement, out);
                m::put_target(out, F::DESCRIBE, target::STATEMENT, &statement.name);
                self.pass(F::DESCRIBE, Some(statement), None);
                return Ok(Verdict::Replace);
            }
        }
        self.pass(F::DESCRIBE, None, None);
        Ok(Verdict::Forward)
    }

    /// Close of a named statement is answered here; the server keeps its
    /// copy for others.
    fn on_close(&mut self, body: &[u8]) -> Result<Verdict, ProtoError> {
        let (kind, name) = m::parse_target(body)?;
        if kind == target::STATEMENT && !name.is_empty() {
            self.changed(name);
            let undo = self.client.take(name).map(|(statement, token)| {
                Box::new(UndoKind::Restore {
                    name: name.into(),
                    statement,
                    token,
                })
            });
            self.push(Pending::Fake {
                kind: Fake::CloseComplete,
                undo,
            });
            return Ok(Verdict::Replace);
        }
        self.pass(F::CLOSE, None, None);
        Ok(Verdict::Forward)
    }

    /// A simple query is forwarded, except a lone `DEALLOCATE name` of a
    /// statement the client has: answered here when nothing is in flight,
    /// else turned into a DEALLOCATE of our name if the server has it.
    fn on_query(
        &mut self,
        body_len: usize,
        body: &[u8],
        out: &mut BytesMut,
        quiet: bool,
    ) -> Verdict {
        let epoch = self.client.epoch();
        if body.len() == body_len && m::is_reset_all(body) {
            self.link.reset_segment = Some(self.link.segment);
        }
        let target = (body.len() == body_len)
            .then(|| m::parse_deallocate(body))
            .flatten();
        if let Some(Deallocate::Name(name)) = target {
            if let Some(statement) = self.client.get(&name).cloned() {
                if quiet && self.link.queue.is_empty() {
                    // In a failed transaction Postgres refuses any
                    // statement (25P02): let the server say so.
                    if self.link.status == status::FAILED_TRANSACTION {
                        self.push(Pending::Ready { epoch });
                        return Verdict::Forward;
                    }
                    self.client.remove(&name);
                    self.push(Pending::Fake {
                        kind: Fake::Deallocated,
                        undo: None,
                    });
                    return Verdict::Replace;
                }
                if self.server.remove(statement.id).is_some() {
                    self.client.remove(&name);
                    let sql = deallocate_sql(&statement);
                    out.put_u8(F::QUERY);
                    out.put_u32(u32::try_from(sql.len() + 5).unwrap_or(u32::MAX));
                    out.put_slice(sql.as_bytes());
                    out.put_u8(0);
                    self.push(Pending::Ready { epoch });
                    return Verdict::Replace;
                }
            }
        }
        self.push(Pending::Ready { epoch });
        Verdict::Forward
    }

    /// Make sure the server has `statement` before a message using it.
    fn ensure(&mut self, statement: &Arc<Statement>, out: &mut BytesMut) {
        let slot = self.server.touch(statement.id);
        if !self.present(slot) {
            self.send_parse(statement.clone(), true, None, out);
        }
    }

    /// Write (evictions,) Close and Parse of `statement` under our name.
    fn send_parse(
        &mut self,
        statement: Arc<Statement>,
        hidden: bool,
        undo: Undo,
        out: &mut BytesMut,
    ) {
        // A stale copy is replaced, not counted against the others.
        self.server.remove(statement.id);
        for victim in self.server.make_room(self.max) {
            m::put_target(out, F::CLOSE, target::STATEMENT, &victim.name);
            self.push(Pending::HiddenClose);
        }
        // Closing a name that does not exist is no error; closing first
        // means a copy we lost track of can never fail our Parse (42P05).
        m::put_target(out, F::CLOSE, target::STATEMENT, &statement.name);
        self.push(Pending::HiddenClose);
        m::put_parse(out, &statement.name, &statement.key);
        self.server
            .insert_sent(statement.clone(), self.link.segment);
        self.link.counts.server_parses += 1;
        self.push(Pending::ServerParse {
            statement,
            hidden,
            undo,
        });
    }

    /// Responses of our own that are due now. Returns the status of a
    /// ReadyForQuery written, if any (the caller counts it; then it is
    /// called again at the next boundary for what follows).
    pub fn inject(&mut self, out: &mut BytesMut) -> Option<u8> {
        while matches!(self.link.queue.front(), Some(Pending::Fake { .. })) {
            let Some(Pending::Fake { kind, .. }) = self.link.queue.pop_front() else {
                break;
            };
            match kind {
                Fake::ParseComplete => m::put_empty(out, B::PARSE_COMPLETE),
                Fake::CloseComplete => m::put_empty(out, B::CLOSE_COMPLETE),
                Fake::Deallocated => {
                    m::put_command_complete(out, "DEALLOCATE");
                    m::put_ready(out, self.link.status);
                    return Some(self.link.status);
                }
            }
        }
        None
    }

    /// A server message (fakes due before it were already injected).
    pub fn on_server(
        &mut self,
        tag: u8,
        body_len: usize,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError> {
        match tag {
            B::NOTICE_RESPONSE | B::PARAMETER_STATUS | B::NOTIFICATION_RESPONSE => {
                return Ok(Verdict::Forward)
            }
            B::READY_FOR_QUERY => {
                if let Some(status) = body.first() {
                    self.link.status = *status;
                }
                self.end_at_ready()?;
                return Ok(Verdict::Forward);
            }
            B::ERROR_RESPONSE => return Ok(self.on_error(body_len, body, out)),
            B::COMMAND_COMPLETE if body.len() == body_len => self.on_command_complete(body),
            _ => {}
        }
        let Some(head) = self.link.queue.front() else {
            return Ok(Verdict::Forward);
        };
        let ends_head = match (tag, head) {
            (B::PARSE_COMPLETE, Pending::ServerParse { .. }) => {
                if let Some(Pending::ServerParse {
                    statement, hidden, ..
                }) = self.link.queue.pop_front()
                {
                    self.server.confirm(statement.id);
                    if hidden {
                        return Ok(Verdict::Replace);
                    }
                }
                return Ok(Verdict::Forward);
            }
            (B::CLOSE_COMPLETE, Pending::HiddenClose) | (B::PARSE_COMPLETE, Pending::Probe) => {
                self.link.queue.pop_front();
                return Ok(Verdict::Replace);
            }
            (B::PARSE_COMPLETE, Pending::Pass { tag: F::PARSE, .. })
            | (B::BIND_COMPLETE, Pending::Pass { tag: F::BIND, .. })
            | (B::CLOSE_COMPLETE, Pending::Pass { tag: F::CLOSE, .. })
            | (
                B::ROW_DESCRIPTION | B::NO_DATA,
                Pending::Pass {
                    tag: F::DESCRIBE, ..
                },
            )
            | (
                B::COMMAND_COMPLETE | B::EMPTY_QUERY_RESPONSE | B::PORTAL_SUSPENDED,
                Pending::Pass {
                    tag: F::EXECUTE, ..
                },
            ) => true,
            _ => false,
        };
        if ends_head {
            self.link.queue.pop_front();
        }
        Ok(Verdict::Forward)
    }

    /// DISCARD ALL / DEALLOCATE ALL succeeded: the server has no
    /// statements left, and neither has the client (as far as mappings
    /// made before that command go).
    fn on_command_complete(&mut self, body: &[u8]) {
        if body != b"DISCARD ALL\0" && body != b"DEALLOCATE ALL\0" {
            return;
        }
        let epoch = match self.link.queue.front() {
            Some(Pending::Ready { epoch } | Pending::Pass { epoch, .. }) => *epoch,
            _ => self.client.epoch(),
        };
        self.client.clear_until(epoch);
        self.server.clear_confirmed();
    }

    /// The tracker counts the ReadyForQuery messages owed (one count,
    /// see `client::tracker`); this queue only orders the responses
    /// between them, so at each ReadyForQuery its head must be the
    /// matching Sync/Query item. Anything else means the server answered
    /// out of step with what was sent: the link cannot be trusted, and
    /// an error (the server is closed, never reused) is the only safe
    /// answer. The skipped items are taken back first, so the cache
    /// stays on its safe side either way.
    fn end_at_ready(&mut self) -> Result<(), ProtoError> {
        let mut undone = Vec::new();
        while let Some(item) = self.link.queue.pop_front() {
            if is_ready(&item) {
                self.link.resolved += 1;
                let resolved = self.link.resolved;
                self.link.uncertain.retain(|(_, s)| *s >= resolved);
                break;
            }
            undone.push(item);
        }
        let out_of_step = !undone.is_empty();
        self.take_back(undone);
        if out_of_step {
            return Err(ProtoError::Malformed(
                "ReadyForQuery before the responses owed ahead of it",
            ));
        }
        Ok(())
    }

    fn on_error(&mut self, body_len: usize, body: &[u8], out: &mut BytesMut) -> Verdict {
        // Inside a simple query, or at Sync (commit): ReadyForQuery follows.
        if self.link.queue.front().is_none_or(is_ready) {
            return Verdict::Forward;
        }
        let Some(item) = self.link.queue.pop_front() else {
            return Verdict::Forward;
        };
        let mut verdict = Verdict::Forward;
        let mut undone = Vec::new();
        match item {
            Pending::FailWith(error) => {
                if body.len() == body_len {
                    error.encode(out);
                    verdict = Verdict::Replace;
                }
            }
            Pending::Pass {
                statement: Some(statement),
                ..
            } => match m::error_code(body) {
                // The plan no longer fits the tables (DDL): new Parses of
                // this text get a fresh statement, and this server closes
                // and re-parses its copy at the next use.
                Some(b"0A000") => {
                    self.registry.invalidate(&statement);
                    self.server.mark_stale(statement.id);
                }
                // Our copy is gone (someone ran DEALLOCATE on our name).
                Some(b"26000") => {
                    self.server.remove(statement.id);
                }
                _ => {}
            },
            other => undone.push(other),
        }
        // The server now skips to the next Sync.
        while let Some(front) = self.link.queue.front() {
            if is_ready(front) {
                break;
            }
            if let Some(item) = self.link.queue.pop_front() {
                undone.push(item);
            }
        }
        if self.link.queue.is_empty() {
            // That Sync is not here yet: ignore everything until it is.
            self.link.skipping = true;
        }
        self.take_back(undone);
        verdict
    }

    /// Take back what skipped (or rejected) messages did, newest first,
    /// as a rollback must.
    fn take_back(&mut self, items: Vec<Pending>) {
        for item in items.into_iter().rev() {
            self.skipped(item);
        }
    }

    /// Take back what a message the server skipped (or rejected) did.
    fn skipped(&mut self, item: Pending) {
        match item {
            Pending::ServerParse {
                statement, undo, ..
            } => {
                self.server.remove(statement.id);
                self.undo(undo);
            }
            Pending::Fake { undo, .. } | Pending::Pass { undo, .. } => self.undo(undo),
            // A skipped eviction leaves the statement on the server but
            // not in the cache: under-reporting is safe (Close before
            // Parse); putting it back could be wrong if a DISCARD ALL ran.
            Pending::HiddenClose
            | Pending::FailWith(_)
            | Pending::Probe
            | Pending::Ready { .. } => {}
        }
    }

    fn undo(&mut self, undo: Undo) {
        let Some(undo) = undo else {
            return;
        };
        match *undo {
            UndoKind::Forget { name, token } => self.client.forget(&name, token),
            UndoKind::Restore {
                name,
                statement,
                token,
            } => self.client.restore(&name, statement, token),
        }
    }
}

/// Whether a client message names a statement (so a pending reset of
/// the server's statements matters to it).
fn names_a_statement(tag: u8, body: &[u8]) -> bool {
    match tag {
        F::PARSE => !matches!(body.first(), None | Some(0)),
        F::BIND => m::parse_bind_names(body).is_ok_and(|(_, n, _)| !n.is_empty()),
        F::DESCRIBE | F::CLOSE => {
            m::parse_target(body).is_ok_and(|(k, n)| k == target::STATEMENT && !n.is_empty())
        }
        _ => false,
    }
}

fn deallocate_sql(statement: &Statement) -> String {
    // Our names are ASCII letters, digits and '_'.
    format!(
        "DEALLOCATE \"{}\"",
        String::from_utf8_lossy(&statement.name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct World {
        registry: Registry,
        client: ClientStatements,
        server: ServerStatements,
        link: LinkStatements,
    }

    fn parse_body(name: &str, sql: &str) -> Vec<u8> {
        [name.as_bytes(), b"\0", sql.as_bytes(), b"\0\0\0"].concat()
    }

    fn bind_body(name: &str) -> Vec<u8> {
        [b"\0", name.as_bytes(), b"\0\0\0\0\0\0\0"].concat()
    }

    impl World {
        fn statements(&mut self) -> Statements<'_> {
            Statements {
                registry: &self.registry,
                client: &mut self.client,
                server: &mut self.server,
                link: &mut self.link,
                max: 10,
            }
        }

        /// A client message; returns its verdict and replacement bytes.
        fn client(&mut self, tag: u8, body: &[u8]) -> (Verdict, Vec<u8>) {
            let mut out = BytesMut::new();
            let v = self
                .statements()
                .on_client(tag, body.len(), body, &mut out, false)
                .expect("client message");
            (v, out.to_vec())
        }

        fn server(&mut self, tag: u8, body: &[u8]) -> Verdict {
            let mut out = BytesMut::new();
            self.statements()
                .on_server(tag, body.len(), body, &mut out)
                .expect("server message")
        }

        fn inject(&mut self) -> Vec<u8> {
            let mut out = BytesMut::new();
            self.statements().inject(&mut out);
            out.to_vec()
        }
    }

    /// Message types in a byte stream.
    fn tags(mut bytes: &[u8]) -> String {
        let mut t = String::new();
        while bytes.len() >= 5 {
            let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
            t.push(bytes[0] as char);
            bytes = &bytes[(1 + len).min(bytes.len())..];
        }
        t
    }

    #[test]
    fn first_parse_goes_to_the_server_then_is_answered_here() {
        let mut w = World::default();
        let (v, out) = w.client(b'P', &parse_body("a", "select 1"));
        assert_eq!(v, Verdict::Replace);
        assert_eq!(tags(&out), "CP", "close of our name, then our Parse");
        w.client(b'S', b"");
        assert_eq!(
            w.server(b'3', b""),
            Verdict::Replace,
            "hidden CloseComplete"
        );
        assert_eq!(w.server(b'1', b""), Verdict::Forward);
        assert_eq!(w.server(b'Z', b"I"), Verdict::Forward);
        assert!(w.link.is_settled());
        // Another client name for the same text, on the same server: no
        // server round trip, and the ParseComplete is due at once.
        let (v, out) = w.client(b'P', &parse_body("b", "select 1"));
        assert_eq!((v, out.len()), (Verdict::Replace, 0));
        assert_eq!(tags(&w.inject()), "1");
        let (_, out) = w.client(b'B', &bind_body("b"));
        assert_eq!(tags(&out), "B");
        assert!(out.windows(10).any(|x| x == b"sluice_s_1"));
    }

    #[test]
    fn fake_responses_wait_for_what_the_server_owes_before_them() {
        let mut w = World::default();
        w.client(b'P', &parse_body("a", "select 1"));
        w.client(b'S', b"");
        for (tag, body) in [(b'3', &b""[..]), (b'1', b""), (b'Z', b"I")] {
            w.server(tag, body);
        }
        // Bind/Execute, then a Parse answered here, then Close of it.
        w.client(b'B', &bind_body("a"));
        w.client(b'E', b"\0\0\0\0\0");
        w.client(b'P', &parse_body("c", "select 1"));
        w.client(b'C', b"Sc\0");
        w.client(b'S', b"");
        assert!(w.inject().is_empty(), "BindComplete etc. come first");
        w.server(b'2', b"");
        assert!(w.inject().is_empty());
        w.server(b'D', b"");
        w.server(b'C', b"SELECT 1\0");
        assert_eq!(tags(&w.inject()), "13");
        w.server(b'Z', b"I");
        assert!(w.link.is_settled());
        assert!(w.client.get(b"c").is_none());
    }

    #[test]
    fn ready_for_query_out_of_step_is_an_error_and_takes_the_parse_back() {
        let mut w = World::default();
        w.client(b'P', &parse_body("a", "select 1"));
        w.client(b'S', b"");
        // The server answers the Sync without the CloseComplete and
        // ParseComplete owed before it: the model and the server disagree.
        let mut out = BytesMut::new();
        let answer = w.statements().on_server(b'Z', 1, b"I", &mut out);
        assert!(answer.is_err(), "{answer:?}");
        // What the skipped items did is undone: no name, no cache entry.
        assert!(w.client.get(b"a").is_none());
        assert!(w.server.is_empty());
        assert!(w.link.is_settled());
    }

    #[test]
    fn a_failed_parse_leaves_no_name_and_no_cache_entry() {
        let mut w = World::default();
        w.client(b'P', &parse_body("bad", "selec 1"));
        w.client(b'B', &bind_body("bad"));
        w.client(b'S', b"");
        w.server(b'3', b"");
        assert_eq!(
            w.server(b'E', b"SERROR\0C42601\0Msyntax\0\0"),
            Verdict::Forward
        );
        assert_eq!(w.server(b'Z', b"I"), Verdict::Forward);
        assert!(w.client.get(b"bad").is_none());
        assert!(w.server.is_empty());
        assert!(w.link.is_settled());
    }

    #[test]
    fn duplicate_name_is_42p05_through_a_failing_describe() {
        let mut w = World::default();
        w.client(b'P', &parse_body("a", "select 1"));
        w.client(b'S', b"");
        for (tag, body) in [(b'3', &b""[..]), (b'1', b""), (b'Z', b"I")] {
            w.server(tag, body);
        }
        let (v, out) = w.client(b'P', &parse_body("a", "select 2"));
        assert_eq!((v, tags(&out)), (Verdict::Replace, "PD".to_string()));
        w.client(b'S', b"");
        assert_eq!(w.server(b'1', b""), Verdict::Replace, "probe hidden");
        let mut out = BytesMut::new();
        let body = b"SERROR\0C26000\0Mprepared statement does not exist\0\0";
        let v = w
            .statements()
            .on_server(b'E', body.len(), body, &mut out)
            .expect("error");
        assert_eq!(v, Verdict::Replace);
        assert!(out.windows(5).any(|x| x == b"42P05"));
        // The original mapping is untouched.
        assert!(w.client.get(b"a").is_some());
    }

    #[test]
    fn a_later_segment_waits_for_names_an_earlier_one_changed() {
        let mut w = World::default();
        w.client(b'P', &parse_body("a", "select 1"));
        w.client(b'S', b"");
        // Same segment would not wait; the next one does.
        assert!(w.statements().must_wait(b'B', &bind_body("a")));
        assert!(!w.statements().must_wait(b'B', &bind_body("other")));
        for (tag, body) in [(b'3', &b""[..]), (b'1', b""), (b'Z', b"I")] {
            w.server(tag, body);
        }
        assert!(!w.statements().must_wait(b'B', &bind_body("a")));
    }

    #[test]
    fn discard_all_clears_names_and_server_cache() {
        let mut w = World::default();
        w.client(b'P', &parse_body("a", "select 1"));
        w.client(b'S', b"");
        for (tag, body) in [(b'3', &b""[..]), (b'1', b""), (b'Z', b"I")] {
            w.server(tag, body);
        }
        w.client(b'Q', b"DISCARD ALL\0");
        w.server(b'C', b"DISCARD ALL\0");
        w.server(b'Z', b"I");
        assert!(w.client.is_empty());
        assert!(w.server.is_empty());
    }
}
