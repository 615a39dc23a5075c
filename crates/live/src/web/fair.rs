//! Tenant-fair admission to the server's CPU- and store-bound work.
//!
//! Every store call of a request, and the JSON serialisation of its answer,
//! runs on the blocking pool (`api::with_store`) only while the request
//! holds a slot of the one [`FairGate`] of the server. The gate has
//! [`work_slots`] slots (one per CPU core) and two rules:
//!
//! * **a free slot is kept for a tenant that holds none**: a tenant that
//!   already holds a slot may not take the last free one. So however many
//!   pages one tenant downloads, another tenant's request finds a slot at
//!   once, and a flooding tenant holds at most `slots - 1` cores (with 2
//!   cores: one; a tenant alone on a 2-core server also gets one at a time);
//! * **queued requests are admitted tenant by tenant in turn** (round robin
//!   over the tenants that wait, first come first served within a tenant),
//!   so one tenant's queue never stands in front of another's.
//!
//! The gate counts slots, not time: a request admitted runs to its end. What
//! bounds the time one slot is held is the page size (`limits::MAX_PAGE`).
//!
//! A slot is a [`WorkPermit`]; it is given back when dropped, also when the
//! request that waited for it was abandoned (timeout, client gone).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Slots of the server's gate: the CPU cores (at least 2, so that the slot
/// kept for another tenant exists).
pub fn work_slots() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

#[derive(Default)]
struct State {
    in_use: usize,
    held: HashMap<String, usize>,
    queues: HashMap<String, VecDeque<oneshot::Sender<WorkPermit>>>,
    /// Tenants with a non-empty queue, in the order of their turn.
    turn: VecDeque<String>,
}

/// See the module. Cloning shares the gate.
#[derive(Clone)]
pub struct FairGate {
    capacity: usize,
    state: Arc<Mutex<State>>,
}

/// One slot of a [`FairGate`], held by one tenant until dropped.
pub struct WorkPermit {
    gate: FairGate,
    tenant: String,
}

impl Drop for WorkPermit {
    fn drop(&mut self) {
        self.gate.release(&self.tenant);
    }
}

impl FairGate {
    /// A gate of `capacity` slots (at least 1), none held.
    pub fn new(capacity: usize) -> Self {
        FairGate {
            capacity: capacity.max(1),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `tenant` may take a free slot now (the module's first rule).
    fn may_take(&self, s: &State, tenant: &str) -> bool {
        let free = self.capacity - s.in_use;
        let holds = s.held.get(tenant).copied().unwrap_or(0);
        free >= 2 || (free == 1 && (holds == 0 || self.capacity == 1))
    }

    fn take(&self, s: &mut State, tenant: &str) -> WorkPermit {
        s.in_use += 1;
        *s.held.entry(tenant.to_string()).or_insert(0) += 1;
        WorkPermit {
            gate: self.clone(),
            tenant: tenant.to_string(),
        }
    }

    /// Waits for a slot for `tenant` (see the module for the order).
    pub async fn acquire(&self, tenant: &str) -> WorkPermit {
        loop {
            let rx = {
                let mut s = self.lock();
                let queued = s.queues.get(tenant).is_some_and(|q| !q.is_empty());
                if !queued && self.may_take(&s, tenant) {
                    return self.take(&mut s, tenant);
                }
                let (tx, rx) = oneshot::channel();
                let q = s.queues.entry(tenant.to_string()).or_default();
                q.push_back(tx);
                if q.len() == 1 {
                    s.turn.push_back(tenant.to_string());
                }
                rx
            };
            // The gate never drops a sender without sending, so this loops
            // only if that ever changed; waiting again is then the right
            // thing to do.
            if let Ok(p) = rx.await {
                return p;
            }
        }
    }

    fn release(&self, tenant: &str) {
        let mut grants = Vec::new();
        {
            let mut s = self.lock();
            s.in_use = s.in_use.saturating_sub(1);
            if let Some(h) = s.held.get_mut(tenant) {
                *h = h.saturating_sub(1);
                if *h == 0 {
                    s.held.remove(tenant);
                }
            }
            // Tenants in turn: the first one that may take a slot gets it
            // for the head of its queue and goes to the back of the turn.
            'grant: while s.in_use < self.capacity {
                for k in 0..s.turn.len() {
                    let t = s.turn[k].clone();
                    if !self.may_take(&s, &t) {
                        continue;
                    }
                    s.turn.remove(k);
                    // A tenant in turn always has a waiting request; should
                    // that ever not hold, it leaves the turn (no panic in a
                    // slot's release, which runs in a drop).
                    let Some(q) = s.queues.get_mut(&t) else {
                        continue 'grant;
                    };
                    let Some(tx) = q.pop_front() else {
                        s.queues.remove(&t);
                        continue 'grant;
                    };
                    if q.is_empty() {
                        s.queues.remove(&t);
                    } else {
                        s.turn.push_back(t.clone());
                    }
                    let p = self.take(&mut s, &t);
                    grants.push((tx, p));
                    continue 'grant;
                }
                break;
            }
        }
        // Sent outside the lock: a waiter that is gone hands the permit
        // back, and its drop releases the slot again (to the next in turn).
        for (tx, p) in grants {
            let _ = tx.send(p);
        }
    }

    /// Slots held now (for tests and diagnostics).
    pub fn in_use(&self) -> usize {
        self.lock().in_use
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::sync::Mutex as StdMutex;

    /// Spawns a waiter of `tenant` that records its name when admitted and
    /// keeps its permit until told.
    fn waiter(
        gate: &FairGate,
        tenant: &'static str,
        order: &Arc<StdMutex<Vec<&'static str>>>,
    ) -> (tokio::task::JoinHandle<()>, oneshot::Sender<()>) {
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let (gate, order) = (gate.clone(), order.clone());
        let h = tokio::spawn(async move {
            let _p = gate.acquire(tenant).await;
            order.lock().unwrap().push(tenant);
            let _ = done_rx.await;
        });
        (h, done_tx)
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_flooding_tenant_keeps_a_slot_free_and_the_other_is_admitted_before_its_queue() {
        let gate = FairGate::new(2);
        let order = Arc::new(StdMutex::new(Vec::new()));
        // sponsor-a floods: one admitted, three queued although a slot is
        // free (it is kept for a tenant holding none).
        let mut a = Vec::new();
        for _ in 0..4 {
            a.push(waiter(&gate, "a", &order));
            settle().await;
        }
        assert_eq!(*order.lock().unwrap(), vec!["a"]);
        assert_eq!(gate.in_use(), 1);
        // sponsor-b's request is admitted at once, ahead of a's three.
        let b1 = gate
            .acquire("b")
            .now_or_never()
            .expect("b admitted at once");
        assert_eq!(gate.in_use(), 2);
        // b queues two more; a's first finishes: the slot goes to a's
        // queue (a holds none now and a came first in the turn) ...
        let b2 = waiter(&gate, "b", &order);
        let b3 = waiter(&gate, "b", &order);
        settle().await;
        let (h, done) = a.remove(0);
        done.send(()).unwrap();
        h.await.unwrap();
        settle().await;
        assert_eq!(*order.lock().unwrap(), vec!["a", "a"]);
        // ... and when b's first finishes, b's queue goes next, not a's
        // (a holds a slot and the last free one is kept).
        drop(b1);
        settle().await;
        assert_eq!(*order.lock().unwrap(), vec!["a", "a", "b"]);
        // a's second finishes: the turn now alternates: a, then b.
        let (h, done) = a.remove(0);
        done.send(()).unwrap();
        h.await.unwrap();
        settle().await;
        assert_eq!(*order.lock().unwrap(), vec!["a", "a", "b", "a"]);
        let (h, done) = b2;
        done.send(()).unwrap();
        h.await.unwrap();
        settle().await;
        assert_eq!(*order.lock().unwrap(), vec!["a", "a", "b", "a", "b"]);
        // Everything given back: the gate is empty.
        for (h, done) in a.into_iter().chain([b3]) {
            let _ = done.send(());
            settle().await;
            let _ = h.await;
        }
        settle().await;
        assert_eq!(gate.in_use(), 0);
        assert_eq!(order.lock().unwrap().len(), 6);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_abandoned_waiter_gives_its_slot_to_the_next() {
        let gate = FairGate::new(2);
        let p1 = gate.acquire("a").now_or_never().unwrap();
        let p2 = gate.acquire("b").now_or_never().unwrap();
        let order = Arc::new(StdMutex::new(Vec::new()));
        // a waiter of a that is abandoned (its request timed out) ...
        let gone = tokio::spawn({
            let gate = gate.clone();
            async move {
                let _p = gate.acquire("a").await;
            }
        });
        settle().await;
        gone.abort();
        let _ = gone.await;
        let (h, done) = waiter(&gate, "a", &order);
        settle().await;
        drop(p1);
        settle().await;
        // ... does not keep the slot: the next waiter of a has it.
        assert_eq!(*order.lock().unwrap(), vec!["a"]);
        assert_eq!(gate.in_use(), 2);
        done.send(()).unwrap();
        h.await.unwrap();
        drop(p2);
        assert_eq!(gate.in_use(), 0);
    }
}
