//! [`SharedProcessor`]: fans notifications out to every registered handler's listener
//! (client-go's `sharedProcessor` plus the handler half of `sharedIndexInformer`, SI-4..SI-18).
//!
//! # Ground rules
//!
//! * `deltas_lock` is client-go's "block deltas" lock. Delta processing holds it while it
//!   updates the cache and distributes; a handler registered after start holds it while it
//!   takes a snapshot of the cache and queues the synthetic adds. So a late handler sees the
//!   cache as adds, then every later change, with no gap and no duplicate (SI-7, SI-13).
//! * `state` (an `RwLock`) holds the listener list and the lifecycle flags. Distribution reads
//!   it; registration and removal write it. Handlers never run under either lock: listeners
//!   have their own threads.
//! * Removal stops the listener *before* taking any lock, so a distributor blocked on that
//!   listener's full buffer (`BufferPolicy::Block`) wakes up and releases the locks.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard, RwLock};
use timer_wheel::SharedClock;

use crate::error::HandlerError;
use crate::handler::{Notification, ResourceEventHandler};
use crate::indexer::Indexer;
use crate::listener::{BufferPolicy, ListenerShared, Resync, SyncStatus};
use crate::metrics::Recorder;

/// The smallest resync period a handler can get (SI-5): shorter ones are raised to it.
pub const MIN_RESYNC_PERIOD: Duration = Duration::from_secs(1);

/// Options of one handler registration (client-go's `HandlerOptions`).
#[derive(Clone, Debug, Default)]
pub struct HandlerOptions {
    /// Its resync period; `None` takes the processor's default (SI-4, SI-5).
    pub resync_period: Option<Duration>,
    /// Its buffer policy (SI-8; unbounded by default).
    pub buffer: BufferPolicy,
    /// A name for logs and the listener thread.
    pub name: Option<String>,
}

impl HandlerOptions {
    /// Sets the resync period.
    pub fn resync_period(mut self, period: Duration) -> Self {
        self.resync_period = Some(period);
        self
    }

    /// Sets the buffer policy.
    pub fn buffer(mut self, policy: BufferPolicy) -> Self {
        self.buffer = policy;
        self
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Distributes an informer's notifications to its handlers, each on its own listener thread
/// with its own buffer, resync period and sync state.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, mpsc};
/// use std::time::Duration;
/// use informer::{Indexer, Notification, SharedProcessor, handler_fn};
/// use timer_wheel::FakeClock;
/// # use delta_fifo::Object;
/// # use informer::Resource;
/// # struct Pod(&'static str);
/// # impl Object for Pod { fn name(&self) -> Option<&str> { Some(self.0) } }
/// # impl Resource for Pod { fn resource_version(&self) -> Option<&str> { Some("1") } }
///
/// let indexer = Arc::new(Indexer::new());
/// indexer.add(Pod("a"))?;
/// let processor = SharedProcessor::new(indexer, Arc::new(FakeClock::new()), Duration::ZERO);
/// processor.start();
/// processor.set_upstream_synced();
///
/// // Registered after start: the cache arrives as initial adds.
/// let (tx, rx) = mpsc::channel();
/// let reg = processor
///     .add_event_handler(handler_fn().on_add(move |p: &Arc<Pod>, initial| {
///         tx.send((p.0, initial)).unwrap();
///     }))
///     .unwrap();
/// assert_eq!(rx.recv().unwrap(), ("a", true));
/// assert!(reg.synced());
/// processor.stop();
/// # Ok::<(), informer::IndexerError>(())
/// ```
pub struct SharedProcessor<K> {
    indexer: Arc<Indexer<K>>,
    clock: SharedClock,
    deltas_lock: Mutex<()>,
    state: RwLock<State<K>>,
    /// Makes each handler's pending gauge, if the informer records metrics.
    metrics: Option<Arc<Recorder>>,
}

struct State<K> {
    listeners: Vec<Arc<ListenerShared<K>>>,
    started: bool,
    stopped: bool,
    upstream_synced: bool,
    /// How often the reflector asks `should_resync` (0 = never); the informer's default resync.
    check_period: Duration,
    default_resync: Duration,
    next_id: u64,
}

/// A registered handler: its sync state, backlog, and the key to remove it (client-go's
/// `ResourceEventHandlerRegistration`).
pub struct HandlerRegistration<K> {
    listener: Arc<ListenerShared<K>>,
}

impl<K: Send + Sync + 'static> SharedProcessor<K> {
    /// A processor over the informer's cache `indexer`, reading time from `clock`, whose
    /// handlers resync every `default_resync` by default (0 = the informer never resyncs).
    pub fn new(indexer: Arc<Indexer<K>>, clock: SharedClock, default_resync: Duration) -> Self {
        Self {
            indexer,
            clock,
            deltas_lock: Mutex::new(()),
            state: RwLock::new(State {
                listeners: Vec::new(),
                started: false,
                stopped: false,
                upstream_synced: false,
                check_period: default_resync,
                default_resync,
                next_id: 0,
            }),
            metrics: None,
        }
    }

    /// Gives every handler registered from now on a pending gauge from `recorder`.
    pub(crate) fn with_metrics(mut self, recorder: Option<Arc<Recorder>>) -> Self {
        self.metrics = recorder;
        self
    }

    /// Registers `handler` with the default options (SI-4).
    ///
    /// # Errors
    ///
    /// [`HandlerError::Stopped`] after [`stop`](Self::stop), [`HandlerError::Spawn`] if the
    /// listener thread cannot start.
    #[doc(alias = "AddEventHandler")]
    pub fn add_event_handler(
        &self,
        handler: impl ResourceEventHandler<K>,
    ) -> Result<HandlerRegistration<K>, HandlerError> {
        self.add_event_handler_with_options(handler, HandlerOptions::default())
    }

    /// Registers `handler` (SI-4..SI-7). Before [`start`](Self::start) it is only registered;
    /// after, it receives every cached object as an initial-list add, then every later
    /// change, with no gap and no duplicate.
    ///
    /// Resync period (SI-5): a non-zero period is raised to [`MIN_RESYNC_PERIOD`]; one shorter
    /// than the processor's check period lowers the check period before start, and is raised
    /// to it after start; the effective period is 0 if the processor never resyncs.
    ///
    /// # Errors
    ///
    /// As [`add_event_handler`](Self::add_event_handler).
    #[doc(alias = "AddEventHandlerWithOptions")]
    pub fn add_event_handler_with_options(
        &self,
        handler: impl ResourceEventHandler<K>,
        options: HandlerOptions,
    ) -> Result<HandlerRegistration<K>, HandlerError> {
        // Held across snapshot + registration so no delta is distributed meanwhile (SI-7).
        let _deltas = self.deltas_lock.lock();
        let mut state = self.state.write();
        if state.stopped {
            return Err(HandlerError::Stopped);
        }
        let mut requested = options.resync_period.unwrap_or(state.default_resync);
        if !requested.is_zero() {
            requested = requested.max(MIN_RESYNC_PERIOD);
            if requested < state.check_period {
                if state.started {
                    tracing::warn!(
                        ?requested,
                        check_period = ?state.check_period,
                        "resync period below the informer's check period: raised to it"
                    );
                    requested = state.check_period;
                } else {
                    state.check_period = requested;
                    let check = state.check_period;
                    for listener in &state.listeners {
                        let mut resync = listener.resync.lock();
                        resync.effective = effective(resync.requested, check);
                    }
                }
            }
        }
        let now = self.clock.now();
        let effective = effective(requested, state.check_period);
        if !requested.is_zero() && effective.is_zero() {
            tracing::warn!("the informer does not resync: the handler's resync period is ignored");
        }
        let id = state.next_id;
        state.next_id += 1;
        let name = options
            .name
            .unwrap_or_else(|| format!("informer-handler-{id}"));
        let pending_gauge = self.metrics.as_ref().map(|m| m.pending_gauge(&name));
        let listener = ListenerShared::new(
            id,
            name.clone(),
            options.buffer,
            Resync {
                requested,
                effective,
                next: now + effective,
            },
            pending_gauge,
        );
        listener
            .spawn(Box::new(handler))
            .map_err(|source| HandlerError::Spawn { name, source })?;
        state.listeners.push(Arc::clone(&listener));
        if state.started {
            for obj in self.indexer.list() {
                listener.push(Notification::Add {
                    obj,
                    is_initial_list: true,
                });
            }
        }
        if state.upstream_synced {
            listener.mark_upstream_synced();
        }
        Ok(HandlerRegistration { listener })
    }

    /// Stops delivering to the registered handler, drops what is buffered for it and joins its
    /// thread (SI-18, SI-19). Idempotent; works on a stopped processor. Called from inside
    /// that handler, it does not join (that would deadlock).
    #[doc(alias = "RemoveEventHandler")]
    pub fn remove_event_handler(&self, registration: &HandlerRegistration<K>) {
        registration.listener.stop();
        self.state
            .write()
            .listeners
            .retain(|l| l.id != registration.listener.id);
    }

    /// Marks the processor started: handlers registered from now on get synthetic adds of
    /// the cache (SI-2, SI-7). Idempotent.
    pub fn start(&self) {
        self.state.write().started = true;
    }

    /// Stops every listener (buffered notifications are dropped) and joins their threads;
    /// no handler can be added afterwards. Idempotent.
    pub fn stop(&self) {
        let listeners = {
            let mut state = self.state.write();
            state.stopped = true;
            std::mem::take(&mut state.listeners)
        };
        for listener in listeners {
            listener.stop();
        }
    }

    /// Whether [`stop`](Self::stop) ran.
    pub fn is_stopped(&self) -> bool {
        self.state.read().stopped
    }

    /// The informer's initial list has been processed (SI-15): every handler's `has_synced`
    /// turns true once it has handled its initial adds (SI-16). Idempotent.
    pub fn set_upstream_synced(&self) {
        // The pop loop calls this after every pop once synced: a shared lock suffices then.
        if self.state.read().upstream_synced {
            return;
        }
        let mut state = self.state.write();
        if state.upstream_synced {
            return;
        }
        state.upstream_synced = true;
        for listener in &state.listeners {
            listener.mark_upstream_synced();
        }
    }

    /// How often the reflector should call [`should_resync`](Self::should_resync); zero means
    /// never (client-go's `resyncCheckPeriod`).
    pub fn resync_check_period(&self) -> Duration {
        self.state.read().check_period
    }

    /// Decides which handlers are due for a resync now (SI-14): their syncing flag is set (the
    /// others' cleared) and their next resync scheduled. Returns whether any is due, i.e.
    /// whether the FIFO should resync.
    #[doc(alias = "shouldResync")]
    pub fn should_resync(&self) -> bool {
        let now = self.clock.now();
        let state = self.state.read();
        let mut any = false;
        for listener in &state.listeners {
            let mut resync = listener.resync.lock();
            let due = !resync.effective.is_zero() && now >= resync.next;
            if due {
                resync.next = now + resync.effective;
                any = true;
            }
            listener
                .syncing
                .store(due, std::sync::atomic::Ordering::Relaxed);
        }
        any
    }

    /// Locks out distribution and late registration (client-go's `blockDeltas`).
    pub(crate) fn lock_deltas(&self) -> MutexGuard<'_, ()> {
        self.deltas_lock.lock()
    }

    /// Sends `notification` to every listener; a sync (same-version update) only to those whose
    /// resync is due (SI-10, SI-11). Call with [`lock_deltas`](Self::lock_deltas) held.
    pub(crate) fn distribute(&self, notification: Notification<K>, is_sync: bool) {
        let state = self.state.read();
        for listener in &state.listeners {
            if is_sync && !listener.syncing.load(std::sync::atomic::Ordering::Relaxed) {
                continue;
            }
            listener.push(notification.clone());
        }
    }

    /// The cache the processor snapshots for late handlers.
    pub fn indexer(&self) -> &Arc<Indexer<K>> {
        &self.indexer
    }

    /// Number of registered handlers.
    pub fn handler_count(&self) -> usize {
        self.state.read().listeners.len()
    }
}

/// Effective resync period of a listener (SI-5).
fn effective(requested: Duration, check_period: Duration) -> Duration {
    if requested.is_zero() || check_period.is_zero() {
        Duration::ZERO
    } else {
        requested.max(check_period)
    }
}

impl<K: Send + Sync + 'static> HandlerRegistration<K> {
    /// Whether the informer synced **and** this handler has handled every initial-list add
    /// queued for it (SI-16). Latched.
    #[doc(alias = "HasSynced")]
    pub fn has_synced(&self) -> bool {
        self.listener.sync_status() == SyncStatus::Synced
    }

    /// Blocks until [`has_synced`](Self::has_synced); returns false if the handler was removed
    /// (or the processor stopped) first. Do not call it from an async task; use
    /// [`synced_async`](Self::synced_async).
    pub fn synced(&self) -> bool {
        futures::executor::block_on(self.synced_async())
    }

    /// Waits until [`has_synced`](Self::has_synced); returns false if the handler was removed
    /// (or the processor stopped) first. Never polls.
    pub fn synced_async(&self) -> impl Future<Output = bool> + Send + 'static {
        let mut rx = self.listener.subscribe_sync();
        async move {
            match rx.wait_for(|s| *s != SyncStatus::Pending).await {
                Ok(status) => *status == SyncStatus::Synced,
                Err(_) => false,
            }
        }
    }

    /// Notifications waiting in this handler's buffer (the pending-notifications gauge of
    /// spec section 6.1).
    pub fn pending(&self) -> usize {
        self.listener.pending()
    }

    /// Notifications dropped by [`BufferPolicy::DropNewest`].
    pub fn dropped(&self) -> u64 {
        self.listener.dropped()
    }

    /// Handler calls that panicked (each skipped that notification).
    pub fn panics(&self) -> u64 {
        self.listener.panics()
    }

    /// The effective resync period (0 = never).
    pub fn resync_period(&self) -> Duration {
        self.listener.resync.lock().effective
    }

    /// Whether the handler was removed (or its processor stopped).
    pub fn is_removed(&self) -> bool {
        self.listener.is_stopped()
    }

    /// The handler's name.
    pub fn name(&self) -> &str {
        &self.listener.name
    }
}

impl<K> fmt::Debug for HandlerRegistration<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerRegistration")
            .field("name", &self.listener.name)
            .finish_non_exhaustive()
    }
}

impl<K> fmt::Debug for SharedProcessor<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.read();
        f.debug_struct("SharedProcessor")
            .field("handlers", &state.listeners.len())
            .field("started", &state.started)
            .field("stopped", &state.stopped)
            .field("check_period", &state.check_period)
            .finish_non_exhaustive()
    }
}
