//! Per-client map: the names a client gave its statements → registry
//! entries. Lives in the client's session, across links, as the named
//! statements of a direct Postgres session would.
//!
//! Every mapping carries a token from a per-client counter, so a change
//! that has to be taken back later (the backend skipped the message after
//! an error) or a reset that must not touch newer mappings (DISCARD ALL
//! answered after a later Parse was already seen) can tell mappings apart.

use std::collections::HashMap;
use std::sync::Arc;

use super::registry::Statement;

#[derive(Debug, Default)]
pub struct ClientStatements {
    map: HashMap<Box<[u8]>, (Arc<Statement>, u64)>,
    next_token: u64,
}

impl ClientStatements {
    pub fn get(&self, name: &[u8]) -> Option<&Arc<Statement>> {
        self.map.get(name).map(|(s, _)| s)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The newest token handed out so far.
    pub fn epoch(&self) -> u64 {
        self.next_token
    }

    /// Map `name`, returning the mapping's token.
    pub fn insert(&mut self, name: &[u8], statement: Arc<Statement>) -> u64 {
        self.next_token += 1;
        self.map.insert(name.into(), (statement, self.next_token));
        self.next_token
    }

    pub fn remove(&mut self, name: &[u8]) -> Option<Arc<Statement>> {
        self.map.remove(name).map(|(s, _)| s)
    }

    /// Remove a mapping, returning it with its token (for `restore`).
    pub fn take(&mut self, name: &[u8]) -> Option<(Arc<Statement>, u64)> {
        self.map.remove(name)
    }

    /// Undo `insert` if the mapping is still the one it made.
    pub fn forget(&mut self, name: &[u8], token: u64) {
        if self.map.get(name).is_some_and(|(_, t)| *t == token) {
            self.map.remove(name);
        }
    }

    /// Undo `take`, with the mapping's own token (so that undoing the
    /// Parse that made it, next in reverse order, still recognises it),
    /// unless the name was mapped again since.
    pub fn restore(&mut self, name: &[u8], statement: Arc<Statement>, token: u64) {
        if !self.map.contains_key(name) {
            self.map.insert(name.into(), (statement, token));
        }
    }

    /// Drop mappings made up to `epoch` (DISCARD ALL / DEALLOCATE ALL).
    pub fn clear_until(&mut self, epoch: u64) {
        self.map.retain(|_, (_, token)| *token > epoch);
    }
}
