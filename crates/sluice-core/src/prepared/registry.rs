//! The instance-wide statement registry: one entry per distinct (query
//! text, parameter types), shared by every client and server connection
//! that uses it, under a server-side name Sluice owns (`sluice_s_<id>`).
//!
//! Entries are reference counted: client maps and server caches hold
//! `Arc<Statement>`, the registry only a `Weak`, so an entry lives exactly
//! as long as somebody uses it and its memory is measured while it does.
//! An id is never reused, so a server can never confuse an old entry's
//! statement with a new one of the same text.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Bytes counted per entry beyond its key and name (map slot, Arc
/// header, fields): an estimate, so the reported size tracks reality.
const ENTRY_OVERHEAD: usize = 96;

#[derive(Debug, Default)]
struct Inner {
    map: Mutex<HashMap<Arc<[u8]>, Weak<Statement>>>,
    next_id: AtomicU64,
    entries: AtomicUsize,
    bytes: AtomicUsize,
}

/// One distinct statement.
#[derive(Debug)]
pub struct Statement {
    pub id: u64,
    /// The server-side name, `sluice_s_<id>`.
    pub name: Box<[u8]>,
    /// The Parse body after the name: query, NUL, count, type OIDs.
    pub key: Arc<[u8]>,
    registry: Weak<Inner>,
}

impl Statement {
    fn size(&self) -> usize {
        self.key.len() + self.name.len() + ENTRY_OVERHEAD
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        let Some(inner) = self.registry.upgrade() else {
            return;
        };
        inner.entries.fetch_sub(1, Ordering::Relaxed);
        inner.bytes.fetch_sub(self.size(), Ordering::Relaxed);
        let mut map = lock(&inner.map);
        // The slot may already hold a newer entry for the same key.
        if map.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
            map.remove(&self.key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Size of the registry, for SHOW and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryUsage {
    /// Distinct statements alive (used by some client or server).
    pub entries: usize,
    /// Their estimated memory: keys, names and per-entry overhead.
    pub bytes: usize,
}

/// Lives in `Shared`; cheap to share.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    /// The entry for `key`, created if nobody uses one yet.
    pub fn get_or_insert(&self, key: &[u8]) -> Arc<Statement> {
        let mut map = lock(&self.inner.map);
        if let Some(found) = map.get(key).and_then(Weak::upgrade) {
            return found;
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let key: Arc<[u8]> = Arc::from(key);
        let statement = Arc::new(Statement {
            id,
            name: format!("sluice_s_{id}").into_bytes().into_boxed_slice(),
            key: key.clone(),
            registry: Arc::downgrade(&self.inner),
        });
        self.inner.entries.fetch_add(1, Ordering::Relaxed);
        self.inner
            .bytes
            .fetch_add(statement.size(), Ordering::Relaxed);
        map.insert(key, Arc::downgrade(&statement));
        statement
    }

    /// Stop handing out `statement` for its key (its plan went stale after
    /// DDL): the next Parse of that text gets a fresh entry and name, so
    /// no server's stale copy is reused for it. Users keep their Arcs.
    pub fn invalidate(&self, statement: &Arc<Statement>) {
        let mut map = lock(&self.inner.map);
        let current = map
            .get(&statement.key)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(statement)));
        if current {
            map.remove(&statement.key);
        }
    }

    /// Entries and bytes in use now.
    pub fn usage(&self) -> RegistryUsage {
        RegistryUsage {
            entries: self.inner.entries.load(Ordering::Relaxed),
            bytes: self.inner.bytes.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_shared_and_freed_with_their_last_user() {
        let registry = Registry::default();
        let a = registry.get_or_insert(b"select 1\0\0\0");
        let b = registry.get_or_insert(b"select 1\0\0\0");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a.name, b"sluice_s_1");
        let c = registry.get_or_insert(b"select 2\0\0\0");
        assert_eq!(registry.usage().entries, 2);
        drop((a, b));
        assert_eq!(registry.usage().entries, 1);
        drop(c);
        assert_eq!(registry.usage(), RegistryUsage::default());
        // Ids are not reused.
        assert_eq!(
            &*registry.get_or_insert(b"select 1\0\0\0").name,
            b"sluice_s_3"
        );
    }

    #[test]
    fn invalidated_entries_are_replaced_but_stay_alive_for_users() {
        let registry = Registry::default();
        let old = registry.get_or_insert(b"select * from t\0\0\0");
        registry.invalidate(&old);
        let new = registry.get_or_insert(b"select * from t\0\0\0");
        assert_ne!(old.id, new.id);
        drop(old);
        // Dropping the old entry must not unmap the new one.
        let again = registry.get_or_insert(b"select * from t\0\0\0");
        assert!(Arc::ptr_eq(&new, &again));
        assert_eq!(registry.usage().entries, 1);
    }
}
