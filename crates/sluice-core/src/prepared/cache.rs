//! Per-server-connection cache: which registry statements are prepared on
//! that backend, in least-recently-used order, bounded by
//! `max_prepared_statements`.
//!
//! The cache may only err on one side. Believing a statement is absent
//! when the backend has it is harmless: Sluice always sends a Close of the
//! name before its Parse. Believing it present when it is not would make
//! a client's Bind fail, so every path that can drop a backend's copy
//! (errors, DISCARD ALL, DEALLOCATE) removes the entry first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::registry::Statement;

/// What the backend has for one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Our Parse is on its way; later messages may use it (the backend
    /// runs them in order), but it must not be evicted before it is known
    /// to have worked.
    Sent,
    /// ParseComplete seen.
    Ready,
    /// Its plan no longer matches the tables (0A000): close and parse it
    /// again before the next use.
    Stale,
}

#[derive(Debug)]
struct Slot {
    statement: Arc<Statement>,
    state: SlotState,
    used: u64,
    /// For `Sent`: the link's Sync segment the Parse went out in.
    segment: u64,
}

#[derive(Debug, Default)]
pub struct ServerStatements {
    slots: HashMap<u64, Slot>,
    /// use tick → statement id, oldest first.
    order: BTreeMap<u64, u64>,
    tick: u64,
}

impl ServerStatements {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The state of `id` here (and, if `Sent`, the segment of its
    /// Parse), marking it most recently used.
    pub fn touch(&mut self, id: u64) -> Option<(SlotState, u64)> {
        self.tick += 1;
        let slot = self.slots.get_mut(&id)?;
        self.order.remove(&slot.used);
        slot.used = self.tick;
        self.order.insert(self.tick, id);
        Some((slot.state, slot.segment))
    }

    pub fn contains(&self, id: u64) -> bool {
        self.slots.contains_key(&id)
    }

    /// Record a Parse just sent in Sync segment `segment` of the link.
    pub fn insert_sent(&mut self, statement: Arc<Statement>, segment: u64) {
        self.insert(statement, SlotState::Sent, segment);
    }

    fn insert(&mut self, statement: Arc<Statement>, state: SlotState, segment: u64) {
        self.tick += 1;
        let id = statement.id;
        let slot = Slot {
            statement,
            state,
            used: self.tick,
            segment,
        };
        if let Some(old) = self.slots.insert(id, slot) {
            self.order.remove(&old.used);
        }
        self.order.insert(self.tick, id);
    }

    pub fn confirm(&mut self, id: u64) {
        if let Some(slot) = self.slots.get_mut(&id) {
            if slot.state == SlotState::Sent {
                slot.state = SlotState::Ready;
            }
        }
    }

    pub fn mark_stale(&mut self, id: u64) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.state = SlotState::Stale;
        }
    }

    pub fn remove(&mut self, id: u64) -> Option<Arc<Statement>> {
        let slot = self.slots.remove(&id)?;
        self.order.remove(&slot.used);
        Some(slot.statement)
    }

    /// Make room for one more statement under `max`: take out the least
    /// recently used confirmed entries and return them (the caller closes
    /// them on the backend). Entries still being parsed are never taken,
    /// so under a long pipeline the cache may briefly exceed `max`.
    pub fn make_room(&mut self, max: usize) -> Vec<Arc<Statement>> {
        let mut victims = Vec::new();
        if self.slots.len() < max {
            return victims;
        }
        let excess = self.slots.len() + 1 - max;
        let candidates: Vec<(u64, u64)> = self
            .order
            .iter()
            .filter(|(_, id)| {
                self.slots
                    .get(id)
                    .is_some_and(|s| s.state != SlotState::Sent)
            })
            .take(excess)
            .map(|(tick, id)| (*tick, *id))
            .collect();
        for (tick, id) in candidates {
            self.order.remove(&tick);
            if let Some(slot) = self.slots.remove(&id) {
                victims.push(slot.statement);
            }
        }
        victims
    }

    /// The backend dropped every statement (DISCARD ALL, DEALLOCATE ALL).
    /// Parses sent after that command are still in flight and stay.
    pub fn clear_confirmed(&mut self) {
        self.slots.retain(|_, s| s.state == SlotState::Sent);
        let slots = &self.slots;
        self.order.retain(|_, id| slots.contains_key(id));
    }

    pub fn clear(&mut self) {
        self.slots.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepared::registry::Registry;

    #[test]
    fn evicts_least_recently_used_confirmed_entries() {
        let registry = Registry::default();
        let s: Vec<_> = (0..4)
            .map(|i| registry.get_or_insert(format!("select {i}\0\0\0").as_bytes()))
            .collect();
        let mut cache = ServerStatements::default();
        for st in &s[..3] {
            assert!(cache.make_room(3).is_empty());
            cache.insert_sent(st.clone(), 0);
        }
        // Nothing confirmed yet: nothing can go.
        assert!(cache.make_room(3).is_empty());
        for st in &s[..3] {
            cache.confirm(st.id);
        }
        cache.touch(s[0].id);
        let victims = cache.make_room(3);
        assert_eq!(victims.len(), 1);
        assert_eq!(victims[0].id, s[1].id);
        cache.insert_sent(s[3].clone(), 0);
        assert_eq!(cache.len(), 3);
        cache.clear_confirmed();
        assert_eq!(cache.len(), 1);
        assert!(cache.contains(s[3].id));
    }
}
