//! What the relay must know to find release points (invariants 1 and 2):
//! how many ReadyForQuery messages the server still owes, whether
//! extended-protocol messages were sent since the last Sync, and the
//! status of the last ReadyForQuery.
//!
//! Each Sync, simple Query and FunctionCall is answered by exactly one
//! ReadyForQuery, even after an error (the server skips to the next Sync
//! and answers that), so counting them is exact for pipelines.

use bytes::BytesMut;
use sluice_config::PoolMode;
use sluice_proto::fields::parse_parameter_status;
use sluice_proto::tags::{backend as B, frontend as F, status};
use sluice_proto::ProtoError;

use std::time::Instant;

use crate::params::VarCache;
use crate::prepared::Statements;
use crate::relay::{LinkPolicy, Verdict, MAX_INSPECTED, MAX_REWRITTEN_PARSE};
use crate::stats::LocalHistogram;

#[derive(Debug, Default)]
pub struct Tracker {
    /// ReadyForQuery messages the server still owes.
    pub owed: u32,
    /// Parse/Bind/Describe/Execute/Close sent since the last Sync.
    pub unsynced: bool,
    /// Status of the last server message if it was ReadyForQuery.
    pub last_ready: Option<u8>,
    /// Messages seen from the client (activity, for idle timeouts).
    pub client_messages: u64,
    /// ReadyForQuery messages received (≈ queries) in this link.
    pub queries: u64,
    /// Transactions ended (ReadyForQuery 'I') in this link.
    pub xacts: u64,
    /// Statement mode saw a transaction block open; the ReadyForQuery
    /// that says so was withheld and the link must end with an error.
    pub refused_transaction: bool,
    /// When the request now in flight began (first client message while
    /// nothing was owed), for query times.
    query_started: Option<Instant>,
    /// Times of the queries this link finished.
    pub query_times: LocalHistogram,
}

impl Tracker {
    /// Start of a new link: nothing owed, and no ReadyForQuery seen yet.
    pub fn reset(&mut self) {
        *self = Tracker::default();
    }

    /// Nothing owed and nothing half-done: the server is idle.
    pub fn is_clean(&self) -> bool {
        self.owed == 0 && !self.unsynced && self.last_ready == Some(status::IDLE)
    }

    /// Idle inside a transaction block, waiting for the client.
    pub fn idle_in_transaction(&self) -> bool {
        self.owed == 0
            && matches!(
                self.last_ready,
                Some(status::IN_TRANSACTION | status::FAILED_TRANSACTION)
            )
    }

    /// A client message went to the server: a new request starts its
    /// clock if nothing was outstanding.
    fn request(&mut self) {
        if self.query_started.is_none() && self.owed == 0 {
            self.query_started = Some(Instant::now());
        }
    }

    /// Count a ReadyForQuery the client receives.
    fn ready(&mut self, status: u8) {
        self.owed = self.owed.saturating_sub(1);
        if self.owed == 0 {
            if let Some(started) = self.query_started.take() {
                self.query_times.observe(started.elapsed());
            }
        }
        self.last_ready = Some(status);
        self.queries += 1;
        if status == status::IDLE {
            self.xacts += 1;
        }
    }
}

/// The policy of one link: the tracker plus the parameter caches that
/// ParameterStatus updates (invariant 4), and the prepared-statement
/// layer when it is on (see `crate::prepared`).
pub struct LinkState<'a> {
    pub tracker: &'a mut Tracker,
    pub client_vars: &'a mut VarCache,
    pub server_vars: &'a mut VarCache,
    pub mode: PoolMode,
    pub statements: Option<Statements<'a>>,
}

impl LinkPolicy for LinkState<'_> {
    fn client_wants(&self, tag: u8, body_len: usize, seen: &[u8]) -> usize {
        self.statements
            .as_ref()
            .map_or(0, |s| s.client_wants(tag, body_len, seen))
    }

    fn client_cap(&self, tag: u8) -> usize {
        if tag == F::PARSE && self.statements.is_some() {
            MAX_REWRITTEN_PARSE
        } else {
            MAX_INSPECTED
        }
    }

    fn on_client(
        &mut self,
        tag: u8,
        len: usize,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError> {
        if self
            .statements
            .as_ref()
            .is_some_and(|s| s.must_wait(tag, body))
        {
            return Ok(Verdict::Hold);
        }
        let t = &mut *self.tracker;
        let quiet = t.owed == 0 && !t.unsynced;
        t.client_messages += 1;
        if tag != F::TERMINATE {
            t.request();
        }
        match tag {
            F::TERMINATE => return Ok(Verdict::Stop),
            F::QUERY | F::FUNCTION_CALL => t.owed += 1,
            F::SYNC => {
                t.owed += 1;
                t.unsynced = false;
            }
            F::PARSE | F::BIND | F::DESCRIBE | F::EXECUTE | F::CLOSE => t.unsynced = true,
            _ => {}
        }
        t.last_ready = None;
        match &mut self.statements {
            Some(s) => s.on_client(tag, len, body, out, quiet),
            None => Ok(Verdict::Forward),
        }
    }

    fn server_wants(&self, tag: u8, body_len: usize, _seen: &[u8]) -> usize {
        let own = match tag {
            B::READY_FOR_QUERY | B::PARAMETER_STATUS => body_len,
            _ => 0,
        };
        let theirs = self
            .statements
            .as_ref()
            .map_or(0, |s| s.server_wants(tag, body_len));
        own.max(theirs)
    }

    fn on_server(
        &mut self,
        tag: u8,
        len: usize,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Verdict, ProtoError> {
        if self.track_server(tag, body)? == Verdict::Stop {
            return Ok(Verdict::Stop);
        }
        match &mut self.statements {
            Some(s) => s.on_server(tag, len, body, out),
            None => Ok(Verdict::Forward),
        }
    }

    fn inject_to_client(&mut self, out: &mut BytesMut) {
        if let Some(s) = &mut self.statements {
            if let Some(status) = s.inject(out) {
                self.tracker.ready(status);
            }
        }
    }

    fn is_idle(&self) -> bool {
        let settled = self.statements.as_ref().is_none_or(|s| s.link.is_settled());
        settled && self.tracker.is_clean()
    }

    fn releases_when_idle(&self) -> bool {
        // Statement mode gives the server back after every answer (an
        // open transaction block never gets here: see on_server).
        self.mode != PoolMode::Session
    }
}

impl LinkState<'_> {
    /// The tracker's view of a server message (ReadyForQuery counting,
    /// parameter caches, statement mode's refusal).
    fn track_server(&mut self, tag: u8, body: &[u8]) -> Result<Verdict, ProtoError> {
        let t = &mut *self.tracker;
        match tag {
            B::READY_FOR_QUERY => {
                let status = *body
                    .first()
                    .ok_or(ProtoError::Malformed("empty ReadyForQuery"))?;
                if t.owed == 0 {
                    return Err(ProtoError::Malformed("unsolicited ReadyForQuery"));
                }
                if self.mode == PoolMode::Statement && status != status::IDLE {
                    // As PgBouncer: the client gets the error instead of
                    // this ReadyForQuery, and the server is closed.
                    t.refused_transaction = true;
                    return Ok(Verdict::Stop);
                }
                t.ready(status);
            }
            B::PARAMETER_STATUS => {
                let (name, value) = parse_parameter_status(body)?;
                self.client_vars.set(name, value);
                self.server_vars.set(name, value);
                t.last_ready = None;
            }
            _ => t.last_ready = None,
        }
        Ok(Verdict::Forward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn vars() -> VarCache {
        VarCache::new(Arc::from(vec!["TimeZone".to_string()]))
    }

    struct Fixture {
        tracker: Tracker,
        cv: VarCache,
        sv: VarCache,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                tracker: Tracker::default(),
                cv: vars(),
                sv: vars(),
            }
        }
        fn link(&mut self) -> LinkState<'_> {
            LinkState {
                tracker: &mut self.tracker,
                client_vars: &mut self.cv,
                server_vars: &mut self.sv,
                mode: PoolMode::Transaction,
                statements: None,
            }
        }
        fn client(&mut self, tags: &[u8]) {
            let mut link = self.link();
            for tag in tags {
                link.on_client(*tag, 0, &[], &mut BytesMut::new())
                    .expect("client message");
            }
        }
        /// Feed a ReadyForQuery; returns whether that is a release point.
        fn ready(&mut self, status: u8) -> Result<bool, ProtoError> {
            let mut link = self.link();
            link.on_server(b'Z', 1, &[status], &mut BytesMut::new())?;
            Ok(link.releases_when_idle() && link.is_idle())
        }
    }

    #[test]
    fn pipeline_releases_only_after_the_last_sync_is_answered() {
        let mut f = Fixture::new();
        f.client(b"PBESPBESPBES");
        assert_eq!(f.tracker.owed, 3);
        assert!(!f.ready(b'I').expect("z"));
        assert!(!f.ready(b'I').expect("z"));
        assert!(f.ready(b'I').expect("z"));
    }

    #[test]
    fn flush_without_sync_keeps_the_server() {
        let mut f = Fixture::new();
        f.client(b"Q");
        assert!(f.ready(b'I').expect("z"));
        f.client(b"PBDEH");
        assert!(f.tracker.unsynced);
        assert!(!f.tracker.is_clean());
    }

    #[test]
    fn open_transaction_keeps_the_server() {
        let mut f = Fixture::new();
        f.client(b"Q");
        assert!(!f.ready(b'T').expect("z"));
        assert!(f.tracker.idle_in_transaction());
        f.client(b"Q");
        assert!(!f.ready(b'E').expect("z"));
        f.client(b"Q");
        assert!(f.ready(b'I').expect("z"));
    }

    #[test]
    fn terminate_stops_the_client_side() {
        let mut f = Fixture::new();
        let mut link = f.link();
        assert_eq!(
            link.on_client(b'X', 0, &[], &mut BytesMut::new())
                .expect("x"),
            Verdict::Stop
        );
    }

    #[test]
    fn statement_mode_withholds_a_transaction_block() {
        let mut f = Fixture::new();
        f.client(b"Q");
        let mut link = f.link();
        link.mode = PoolMode::Statement;
        assert_eq!(
            link.on_server(b'Z', 1, b"T", &mut BytesMut::new())
                .expect("z"),
            Verdict::Stop
        );
        assert!(f.tracker.refused_transaction);
    }

    #[test]
    fn unsolicited_ready_is_a_protocol_error() {
        let mut f = Fixture::new();
        assert!(f.ready(b'I').is_err());
    }

    #[test]
    fn parameter_status_updates_both_caches() {
        let mut f = Fixture::new();
        f.link()
            .on_server(b'S', 0, b"TimeZone\0Asia/Tokyo\0", &mut BytesMut::new())
            .expect("status");
        assert_eq!(f.cv.get("TimeZone"), Some("Asia/Tokyo"));
        assert_eq!(f.sv.get("TimeZone"), Some("Asia/Tokyo"));
    }
}
