//! The per-handler listener (client-go's `processorListener`, SI-8, SI-9, SI-16): a buffer of
//! notifications, a thread that feeds them to the handler one at a time, the handler's sync
//! tracking and its resync schedule.
//!
//! # Ground rules
//!
//! * `buffer` (a `Mutex`) holds the queued notifications and the `stopped` flag. The
//!   distributor pushes under it; the listener thread pops under it and calls the handler
//!   **after releasing it**, so a handler never runs under any lock of this crate.
//! * `stopped` is set once, by removal or processor stop; then pushes are dropped, a distributor
//!   blocked on a full bounded buffer wakes and drops its notification, and the thread exits
//!   without delivering what is still buffered (SI-18).
//! * Sync (SI-16): `pending_initial` counts initial-list adds pushed and not yet handled; it is
//!   incremented under `buffer` before the push and decremented after the handler returned (or
//!   panicked). Synced ⇔ `upstream_synced && pending_initial == 0`, latched in `sync_tx`.
//! * `syncing` is written only by the processor's `should_resync` and read by distribution.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::handler::{Notification, ResourceEventHandler};
use crate::metrics::Gauge;

/// What a handler's buffer does when it is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BufferPolicy {
    /// client-go's behaviour: the buffer grows without bound (watch
    /// [`pending`](crate::HandlerRegistration::pending) to see a backlog).
    #[default]
    Unbounded,
    /// At most `capacity` notifications wait; when full, distribution **blocks** until the
    /// handler catches up (or is removed). Nothing is lost, but a stuck handler then stalls the
    /// informer's delta processing, hence every other handler of the informer.
    Block {
        /// Maximum number of waiting notifications (at least 1).
        capacity: usize,
    },
    /// At most `capacity` notifications wait; when full, the new notification is **dropped**,
    /// counted in [`dropped`](crate::HandlerRegistration::dropped) and logged. The handler
    /// misses changes, so it should resynchronise from the cache (e.g. resync) when this
    /// count moves. Initial-list adds are never dropped, so `has_synced` stays truthful.
    DropNewest {
        /// Maximum number of waiting notifications (at least 1).
        capacity: usize,
    },
}

/// Whether a handler finished its initial list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncStatus {
    Pending,
    Synced,
    /// Removed or stopped before syncing.
    Closed,
}

/// When a listener is resynced (SI-5, SI-14).
#[derive(Debug)]
pub(crate) struct Resync {
    /// The period the handler asked for, after the 1 s floor and the after-start raise.
    pub(crate) requested: Duration,
    /// 0 = never.
    pub(crate) effective: Duration,
    pub(crate) next: Instant,
}

/// The state shared by a listener's thread, the processor and the registration handle.
pub(crate) struct ListenerShared<K> {
    pub(crate) id: u64,
    pub(crate) name: String,
    buffer: Mutex<Buffer<K>>,
    not_empty: Condvar,
    not_full: Condvar,
    policy: BufferPolicy,
    pending: AtomicUsize,
    /// Mirrors `pending`, set under `buffer` (the provider's pending-notifications gauge).
    pending_gauge: Option<Box<dyn Gauge>>,
    dropped: AtomicU64,
    panics: AtomicU64,
    /// Whether same-version updates (resyncs) go to this listener now (SI-12).
    pub(crate) syncing: AtomicBool,
    pub(crate) resync: Mutex<Resync>,
    sync_state: Mutex<SyncCounters>,
    sync_tx: watch::Sender<SyncStatus>,
    join: Mutex<Option<JoinHandle<()>>>,
    thread_id: Mutex<Option<ThreadId>>,
}

struct Buffer<K> {
    queue: VecDeque<Notification<K>>,
    stopped: bool,
}

struct SyncCounters {
    upstream_synced: bool,
    pending_initial: usize,
}

/// Initial buffer capacity (client-go's ring buffer starts at 1024): enough for a burst
/// without regrowth, 24 KiB per handler.
const INITIAL_CAPACITY: usize = 1024;

impl<K: Send + Sync + 'static> ListenerShared<K> {
    pub(crate) fn new(
        id: u64,
        name: String,
        policy: BufferPolicy,
        resync: Resync,
        pending_gauge: Option<Box<dyn Gauge>>,
    ) -> Arc<Self> {
        let capacity = match policy {
            BufferPolicy::Unbounded => INITIAL_CAPACITY,
            BufferPolicy::Block { capacity } | BufferPolicy::DropNewest { capacity } => {
                capacity.clamp(1, INITIAL_CAPACITY)
            }
        };
        Arc::new(Self {
            id,
            name,
            buffer: Mutex::new(Buffer {
                queue: VecDeque::with_capacity(capacity),
                stopped: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            policy,
            pending: AtomicUsize::new(0),
            pending_gauge,
            dropped: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            syncing: AtomicBool::new(true),
            resync: Mutex::new(resync),
            sync_state: Mutex::new(SyncCounters {
                upstream_synced: false,
                pending_initial: 0,
            }),
            sync_tx: watch::Sender::new(SyncStatus::Pending),
            join: Mutex::new(None),
            thread_id: Mutex::new(None),
        })
    }

    /// Starts the thread that feeds `handler`.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        mut handler: Box<dyn ResourceEventHandler<K>>,
    ) -> std::io::Result<()> {
        let shared = Arc::clone(self);
        let join = thread::Builder::new()
            .name(self.name.clone())
            .spawn(move || {
                while let Some(notification) = shared.next() {
                    let initial = notification.is_initial_add();
                    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                        notification.deliver_to(&mut *handler);
                    }));
                    if outcome.is_err() {
                        shared.panics.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(
                            handler = %shared.name,
                            "event handler panicked; the notification was skipped"
                        );
                    }
                    if initial {
                        shared.initial_handled();
                    }
                }
            })?;
        *self.thread_id.lock() = Some(join.thread().id());
        *self.join.lock() = Some(join);
        Ok(())
    }

    /// Waits for the next notification; `None` once stopped.
    fn next(&self) -> Option<Notification<K>> {
        let mut buffer = self.buffer.lock();
        loop {
            if buffer.stopped {
                return None;
            }
            if let Some(n) = buffer.queue.pop_front() {
                self.set_pending_locked(buffer.queue.len());
                self.not_full.notify_one();
                return Some(n);
            }
            self.not_empty.wait(&mut buffer);
        }
    }

    /// Queues `notification` according to the buffer policy. Returns whether it was queued.
    pub(crate) fn push(&self, notification: Notification<K>) -> bool {
        let initial = notification.is_initial_add();
        let mut buffer = self.buffer.lock();
        match self.policy {
            BufferPolicy::Unbounded => {}
            BufferPolicy::Block { capacity } => {
                while !buffer.stopped && buffer.queue.len() >= capacity.max(1) {
                    self.not_full.wait(&mut buffer);
                }
            }
            BufferPolicy::DropNewest { capacity } => {
                if !initial && buffer.queue.len() >= capacity.max(1) {
                    let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(
                        handler = %self.name,
                        dropped,
                        "event handler buffer full: notification dropped"
                    );
                    return false;
                }
            }
        }
        if buffer.stopped {
            return false;
        }
        if initial {
            self.sync_state.lock().pending_initial += 1;
        }
        buffer.queue.push_back(notification);
        self.set_pending_locked(buffer.queue.len());
        drop(buffer);
        self.not_empty.notify_one();
        true
    }

    /// Records the buffer's length; called with `buffer` held, so the gauge follows the
    /// buffer's order of changes.
    fn set_pending_locked(&self, len: usize) {
        self.pending.store(len, Ordering::Relaxed);
        if let Some(gauge) = &self.pending_gauge {
            // Exact: a buffer never holds 2^53 notifications.
            #[allow(clippy::cast_precision_loss, reason = "a gauge is an f64")]
            gauge.set(len as f64);
        }
    }

    fn initial_handled(&self) {
        let mut counters = self.sync_state.lock();
        debug_assert!(counters.pending_initial > 0, "SI-16: counter went negative");
        counters.pending_initial = counters.pending_initial.saturating_sub(1);
        self.latch_if_synced(&counters);
    }

    /// The informer's initial list is complete for this listener (SI-16's upstream flag).
    pub(crate) fn mark_upstream_synced(&self) {
        let mut counters = self.sync_state.lock();
        counters.upstream_synced = true;
        self.latch_if_synced(&counters);
    }

    fn latch_if_synced(&self, counters: &SyncCounters) {
        if counters.upstream_synced && counters.pending_initial == 0 {
            self.sync_tx.send_if_modified(|status| {
                let changed = *status == SyncStatus::Pending;
                if changed {
                    *status = SyncStatus::Synced;
                }
                changed
            });
        }
    }

    /// Stops delivery and drops what is buffered; joins the thread unless called from it.
    pub(crate) fn stop(&self) {
        {
            let mut buffer = self.buffer.lock();
            buffer.stopped = true;
            buffer.queue.clear();
            self.set_pending_locked(0);
        }
        self.not_empty.notify_all();
        self.not_full.notify_all();
        self.sync_tx.send_if_modified(|status| {
            let changed = *status == SyncStatus::Pending;
            if changed {
                *status = SyncStatus::Closed;
            }
            changed
        });
        let own_thread = *self.thread_id.lock() == Some(thread::current().id());
        if own_thread {
            tracing::warn!(handler = %self.name, "handler removed from its own thread: not joined");
            return;
        }
        if let Some(join) = self.join.lock().take() {
            let _ = join.join();
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.buffer.lock().stopped
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    pub(crate) fn sync_status(&self) -> SyncStatus {
        *self.sync_tx.borrow()
    }

    pub(crate) fn subscribe_sync(&self) -> watch::Receiver<SyncStatus> {
        self.sync_tx.subscribe()
    }
}
