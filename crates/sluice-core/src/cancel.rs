//! Cancel requests (invariant 5).
//!
//! Every client gets a random BackendKeyData of Sluice's own. While the
//! client holds a server, its slot points at that server's real key; a
//! CancelRequest carrying the client's key is forwarded only then. A
//! release waits for cancels already on their way, so a cancel can never
//! land on the next client's query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use sluice_proto::startup::{encode_cancel_request, CancelKey};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::connector::ServerRoute;

/// Where a cancel for a client goes right now.
#[derive(Debug, Clone)]
pub struct CancelTarget {
    pub route: Arc<ServerRoute>,
    pub key: CancelKey,
}

#[derive(Debug, Default)]
struct SlotState {
    target: Option<CancelTarget>,
    in_flight: usize,
}

/// One client's cancel state.
#[derive(Debug)]
pub struct CancelSlot {
    secret: i32,
    state: Mutex<SlotState>,
    drained: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CancelSlot {
    /// The client now holds this server.
    pub fn link(&self, target: Option<CancelTarget>) {
        lock(&self.state).target = target;
    }

    /// The client gives its server back: stop forwarding, and wait until
    /// cancels already sent have been processed by the server.
    pub async fn unlink(&self) {
        loop {
            let notified = self.drained.notified();
            {
                let mut st = lock(&self.state);
                st.target = None;
                if st.in_flight == 0 {
                    return;
                }
            }
            notified.await;
        }
    }

    /// True while cancels are being delivered (SHOW SERVERS "being_canceled").
    pub fn cancels_in_flight(&self) -> usize {
        lock(&self.state).in_flight
    }
}

/// All live client keys, by the pid we gave out.
#[derive(Debug, Default)]
pub struct CancelRegistry {
    slots: Mutex<HashMap<i32, Arc<CancelSlot>>>,
}

/// Removes the key when the client goes away.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<CancelRegistry>,
    pub key: CancelKey,
    pub slot: Arc<CancelSlot>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.registry.slots).remove(&self.key.pid);
    }
}

impl CancelRegistry {
    /// Give a new client a fresh random key.
    pub fn register(self: &Arc<Self>) -> Registration {
        let mut slots = lock(&self.slots);
        loop {
            let pid: i32 = rand::random::<i32>() & 0x7fff_ffff;
            if pid == 0 || slots.contains_key(&pid) {
                continue;
            }
            let secret: i32 = rand::random();
            let slot = Arc::new(CancelSlot {
                secret,
                state: Mutex::new(SlotState::default()),
                drained: Notify::new(),
            });
            slots.insert(pid, slot.clone());
            return Registration {
                registry: self.clone(),
                key: CancelKey { pid, secret },
                slot,
            };
        }
    }

    /// Handle a CancelRequest from the network. Unknown keys, wrong
    /// secrets and idle clients are ignored silently, as Postgres does.
    pub async fn cancel(&self, key: CancelKey, timeout: Duration) {
        let slot = match lock(&self.slots).get(&key.pid) {
            Some(slot) => slot.clone(),
            None => return,
        };
        let secret_ok: bool = slot
            .secret
            .to_be_bytes()
            .ct_eq(&key.secret.to_be_bytes())
            .into();
        if !secret_ok {
            tracing::warn!("cancel request with a wrong secret");
            return;
        }
        let target = {
            let mut st = lock(&slot.state);
            let Some(target) = st.target.clone() else {
                return;
            };
            st.in_flight += 1;
            target
        };
        if tokio::time::timeout(timeout, forward(&target))
            .await
            .is_err()
        {
            tracing::warn!("cancel request to server timed out");
        }
        let mut st = lock(&slot.state);
        st.in_flight -= 1;
        if st.in_flight == 0 {
            slot.drained.notify_waiters();
        }
    }
}

/// Send the server's real key on a new connection and wait until the
/// postmaster closes it: by then the backend has been signalled.
pub async fn forward(target: &CancelTarget) {
    let mut stream = match target.route.connect().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("could not connect to send cancel: {e}");
            return;
        }
    };
    let mut buf = BytesMut::new();
    encode_cancel_request(target.key, &mut buf);
    if stream.write_all(&buf).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    let mut sink = [0u8; 64];
    while let Ok(n) = stream.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}
