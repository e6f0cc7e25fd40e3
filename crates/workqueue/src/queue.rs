//! [`Queue`]: the base work queue (WQ-1..WQ-19), and the core every face and layer shares.
//!
//! # Ground rules
//! All state lives in [`State`], behind the one mutex of [`Shared`]; every method here that takes
//! a `&mut State` expects that lock held and ends in `_locked`.
//!
//! * `status` is client-go's `dirty` and `processing` sets folded into one map, so a cycle costs
//!   three hash look-ups and one clone:
//!   `Queued` = dirty only, `Processing` = processing only, `Requeue` = both (WQ-3).
//! * An item is in `queue` iff its status is `Queued` (WQ-1), and at most once (WQ-2): only the
//!   transitions *absent → Queued* (`add`) and *Requeue → Queued* (`done`) push, and only the
//!   transition *Queued → Processing* (`get`) pops.
//! * So `status` is empty iff nothing is queued or in flight: the drain condition (WQ-18).
//! * The transitions out of `Processing` and `Requeue` (`done`) are made only by the [`Lease`]
//!   that holds the item, once (see the ground rules of `lease`): a stale or foreign lease never
//!   reaches `done_locked`, so it cannot end the hold of the worker that has the item now.
//! * `shutting_down` only goes from `false` to `true`; once set, `add` and `add_after` do nothing
//!   (WQ-4, DL-1) but `done` still re-queues (WQ-12) and `get` still drains (WQ-8).
//!
//! Wake-ups: each push wakes one getter: a blocking one if any is parked on `ready` (the condvar
//! says whether it woke someone), else an async one through `ready_async` (a `Notify` keeps the
//! permit if nobody waits yet). Every getter re-checks the state under the lock after waking, so
//! an extra wake-up costs a loop, never an item. Shutdown and the end of draining broadcast to
//! every waiter of both kinds.

use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use hashbrown::HashMap;
use hashbrown::hash_map::EntryRef;
use timer_wheel::{AfterFunc, SharedClock};

use crate::config::QueueConfig;
use crate::delaying::Delays;
use crate::error::Error;
use crate::lease::Lease;
use crate::metrics::{self, REFRESH_PERIOD, Recorder};
use crate::sync::{Condvar, Mutex, MutexGuard};

/// A work queue: FIFO, de-duplicating, and never handing one item to two workers at once.
///
/// * An item added several times before a worker takes it is handed out once (WQ-5).
/// * An item added while a worker holds it is handed out again after that worker is done, never
///   to a second worker meanwhile (WQ-6, WQ-12).
/// * [`get`](Queue::get) returns a [`Lease`]; dropping the lease marks the item done, so a
///   worker cannot forget to, even when it panics.
/// * [`shut_down`](Queue::shut_down) stops accepting items and lets workers drain what is
///   queued; [`shut_down_with_drain`](Queue::shut_down_with_drain) also waits for that.
///
/// Clones share one queue: hand one to each worker.
///
/// # Examples
/// ```
/// use workqueue::Queue;
///
/// let queue = Queue::new();
/// queue.add("pod-a");
/// queue.add("pod-b");
/// queue.add("pod-a"); // already queued: collapses
/// assert_eq!(queue.len(), 2);
///
/// let lease = queue.get().unwrap();
/// assert_eq!(*lease, "pod-a");
/// queue.add("pod-a"); // added while processing: queued again after done
/// drop(lease); // done
///
/// queue.shut_down();
/// let rest: Vec<_> = std::iter::from_fn(|| queue.get().map(|l| *l)).collect();
/// assert_eq!(rest, ["pod-b", "pod-a"]);
/// ```
#[doc(alias = "Interface", alias = "TypedInterface", alias = "Type")]
pub struct Queue<T> {
    pub(crate) shared: Arc<Shared<T>>,
}

/// What the queue knows about an item present in `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Waiting in `queue` (dirty, not processing).
    Queued,
    /// Held by a worker (processing, not dirty).
    Processing,
    /// Held by a worker and added again meanwhile (dirty and processing).
    Requeue,
}

/// The queue's state; see the module's ground rules.
pub(crate) struct State<T> {
    pub(crate) status: HashMap<T, Status>,
    pub(crate) queue: VecDeque<T>,
    pub(crate) shutting_down: bool,
    /// A `shut_down_with_drain` is waiting; cleared by `shut_down` to release it (WQ-17).
    pub(crate) drain: bool,
    /// The delaying layer's waiting items; `None` for a plain queue.
    pub(crate) delays: Option<Delays<T>>,
    /// `None` when metrics are off (WQ-22).
    pub(crate) recorder: Option<Recorder<T>>,
    /// The 500 ms refresh of the in-flight gauges (WQ-21); only with metrics.
    pub(crate) ticker: Option<AfterFunc>,
}

/// The queue's shared core: the state, and where getters and drainers wait.
pub(crate) struct Shared<T> {
    pub(crate) state: Mutex<State<T>>,
    /// Blocking getters wait here.
    ready: Condvar,
    /// Blocking drainers wait here.
    drained: Condvar,
    /// Async getters wait here.
    #[cfg(feature = "async")]
    ready_async: tokio::sync::Notify,
    /// Async drainers wait here.
    #[cfg(feature = "async")]
    drained_async: tokio::sync::Notify,
    pub(crate) clock: SharedClock,
}

impl<T: Clone + Eq + Hash + Send + 'static> Queue<T> {
    /// An unnamed queue without metrics, on the real clock.
    #[doc(alias = "New", alias = "NewTyped")]
    pub fn new() -> Self {
        Self::with_config(QueueConfig::new()).expect("an unnamed queue has no metrics to fail")
    }

    /// A queue built from `config`.
    ///
    /// # Errors
    /// Only from the metrics provider of a named queue, such as [`Error::DuplicateName`].
    #[doc(alias = "NewWithConfig", alias = "NewTypedWithConfig")]
    pub fn with_config(config: QueueConfig) -> Result<Self, Error> {
        Shared::build(&config, None).map(|shared| Queue { shared })
    }

    /// Adds `item` unless it is already waiting (WQ-5, WQ-6). Ignored after shutdown (WQ-4).
    ///
    /// An item being processed is marked and queued again when its worker is done, so it is
    /// never held by two workers at once.
    #[doc(alias = "Add")]
    pub fn add(&self, item: T) {
        let mut state = self.shared.state.lock();
        self.shared.add_locked(&mut state, item);
    }

    /// Takes the next item, blocking while the queue is empty (WQ-7, WQ-9). `None` once the queue
    /// is shut down and empty (WQ-8).
    ///
    /// Items queued before the shutdown are still handed out, so workers can drain the queue.
    /// Drop the returned [`Lease`] (or call [`Lease::done`]) when the item is processed.
    ///
    /// # Examples
    /// ```
    /// use workqueue::Queue;
    ///
    /// let queue = Queue::new();
    /// let worker = {
    ///     let queue = queue.clone();
    ///     std::thread::spawn(move || {
    ///         let mut seen = 0;
    ///         while let Some(item) = queue.get() {
    ///             seen += *item;
    ///         }
    ///         seen
    ///     })
    /// };
    /// for i in 1..=10 {
    ///     queue.add(i);
    /// }
    /// queue.shut_down_with_drain();
    /// assert_eq!(worker.join().unwrap(), 55);
    /// ```
    #[doc(alias = "Get")]
    pub fn get(&self) -> Option<Lease<'_, T>> {
        let mut state = self.shared.state.lock();
        loop {
            if let Some(item) = self.shared.pop_locked(&mut state) {
                drop(state);
                return Some(Lease::new(&self.shared, item));
            }
            if state.shutting_down {
                return None;
            }
            self.shared.ready.wait(&mut state);
        }
    }

    /// Takes the next item if one is queued, without waiting. `None` when the queue is empty.
    pub fn try_get(&self) -> Option<Lease<'_, T>> {
        let mut state = self.shared.state.lock();
        let item = self.shared.pop_locked(&mut state)?;
        drop(state);
        Some(Lease::new(&self.shared, item))
    }

    /// The async twin of [`get`](Queue::get), on the same queue: blocking and async workers can
    /// share it.
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped before it completes, no item was taken, and a
    /// wake-up meant for it passes to another waiting task.
    ///
    /// # Examples
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use workqueue::Queue;
    ///
    /// let queue = Queue::new();
    /// queue.add("a");
    /// let lease = queue.get_async().await.unwrap();
    /// assert_eq!(*lease, "a");
    /// # }
    /// ```
    #[cfg(feature = "async")]
    pub async fn get_async(&self) -> Option<Lease<'_, T>> {
        if let Some(lease) = self.try_get() {
            return Some(lease);
        }
        loop {
            let notified = self.shared.ready_async.notified();
            let mut notified = std::pin::pin!(notified);
            // Register before looking, so a push between the look and the wait wakes us.
            notified.as_mut().enable();
            {
                let mut state = self.shared.state.lock();
                if let Some(item) = self.shared.pop_locked(&mut state) {
                    drop(state);
                    return Some(Lease::new(&self.shared, item));
                }
                if state.shutting_down {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks `item` done: client-go's `Done(item)`, for an owned lease made with
    /// [`Lease::into_item`] (works on any [`Lease`]; dropping it does the same). Re-queues the item
    /// if it was added while processing (WQ-11, WQ-12).
    ///
    /// Returns `false`, and changes nothing, if this lease was already done or comes from another
    /// queue: unlike client-go, a stray `done` can neither put a duplicate in the queue (WQ-14)
    /// nor end the hold of another worker that got the same item after this one was done. It
    /// takes the lease, not a bare item, because a bare item cannot tell those two apart.
    ///
    /// # Examples
    /// ```
    /// use workqueue::Queue;
    ///
    /// let queue = Queue::new();
    /// queue.add(7);
    /// let item = queue.get().unwrap().into_item();
    /// assert_eq!(*item, 7);
    /// assert!(queue.done(&item));
    /// assert!(!queue.done(&item), "done once");
    /// ```
    #[doc(alias = "Done")]
    pub fn done(&self, item: &Lease<'_, T>) -> bool {
        item.belongs_to(&self.shared) && item.end()
    }

    /// Number of items waiting to be handed out (WQ-15): not those being processed, not those
    /// re-added while processing, not delayed ones. Informational only.
    #[doc(alias = "Len")]
    pub fn len(&self) -> usize {
        self.shared.state.lock().queue.len()
    }

    /// Whether no item is waiting to be handed out (see [`len`](Queue::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a shutdown has begun (WQ-19).
    #[doc(alias = "ShuttingDown")]
    pub fn is_shutting_down(&self) -> bool {
        self.shared.state.lock().shutting_down
    }

    /// Stops accepting items and wakes every waiting worker; returns at once (WQ-16).
    ///
    /// Workers still get what is queued, then `None`. Delayed items not yet due are dropped
    /// (DL-10). Releases a waiting [`shut_down_with_drain`](Queue::shut_down_with_drain)
    /// (WQ-17). Idempotent.
    #[doc(alias = "ShutDown")]
    pub fn shut_down(&self) {
        self.shared.shut_down(false);
    }

    /// Stops accepting items, wakes every waiting worker, and blocks until every item queued or
    /// in flight is done (WQ-17, WQ-18: unlike client-go, queued items count too). A concurrent
    /// [`shut_down`](Queue::shut_down) releases it early.
    ///
    /// Workers must keep calling `get` and finishing their leases, or this waits forever.
    #[doc(alias = "ShutDownWithDrain")]
    pub fn shut_down_with_drain(&self) {
        self.shared.shut_down(true);
        let mut state = self.shared.state.lock();
        while state.drain && !state.status.is_empty() {
            self.shared.drained.wait(&mut state);
        }
    }

    /// The async twin of [`shut_down_with_drain`](Queue::shut_down_with_drain).
    ///
    /// # Cancel safety
    /// The shutdown begins on the first poll; dropping the future then only stops the waiting.
    ///
    /// # Examples
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use workqueue::Queue;
    ///
    /// let queue = Queue::new();
    /// queue.add(1);
    /// let worker = {
    ///     let queue = queue.clone();
    ///     tokio::spawn(async move { while let Some(_item) = queue.get_async().await {} })
    /// };
    /// queue.shut_down_with_drain_async().await;
    /// assert!(queue.is_empty());
    /// worker.await.unwrap();
    /// # }
    /// ```
    #[cfg(feature = "async")]
    pub async fn shut_down_with_drain_async(&self) {
        self.shared.shut_down(true);
        loop {
            let notified = self.shared.drained_async.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.shared.state.lock();
                if !state.drain || state.status.is_empty() {
                    return;
                }
            }
            notified.await;
        }
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> Shared<T> {
    /// Builds the core; `delays` makes it a delaying queue's.
    pub(crate) fn build(
        config: &QueueConfig,
        delays: Option<Delays<T>>,
    ) -> Result<Arc<Self>, Error> {
        let recorder = metrics::resolve(&config.name, config.metrics.as_ref())?.map(Recorder::new);
        let metrics_on = recorder.is_some();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                status: HashMap::new(),
                queue: VecDeque::new(),
                shutting_down: false,
                drain: false,
                delays,
                recorder,
                ticker: None,
            }),
            ready: Condvar::new(),
            drained: Condvar::new(),
            #[cfg(feature = "async")]
            ready_async: tokio::sync::Notify::new(),
            #[cfg(feature = "async")]
            drained_async: tokio::sync::Notify::new(),
            clock: config.resolved_clock(),
        });
        if metrics_on {
            let weak = Arc::downgrade(&shared);
            let ticker = config
                .resolved_driver()
                .after_func(REFRESH_PERIOD, move || {
                    if let Some(shared) = weak.upgrade() {
                        shared.refresh_metrics();
                    }
                });
            shared.state.lock().ticker = Some(ticker);
        }
        Ok(shared)
    }

    /// `add` with the lock held (WQ-4..WQ-6).
    pub(crate) fn add_locked(&self, state: &mut State<T>, item: T) {
        if state.shutting_down {
            return;
        }
        let push = match state.status.entry_ref(&item) {
            EntryRef::Occupied(mut entry) => {
                if *entry.get() != Status::Processing {
                    return; // already dirty (WQ-5)
                }
                // Held by a worker: `done` re-queues it (WQ-6).
                *entry.get_mut() = Status::Requeue;
                false
            }
            EntryRef::Vacant(entry) => {
                entry.insert_with_key(item.clone(), Status::Queued);
                true
            }
        };
        if let Some(recorder) = &mut state.recorder {
            recorder.add_locked(&item, self.clock.now());
        }
        if push {
            state.queue.push_back(item);
            self.wake_one();
        }
    }

    /// Pops the head for a worker (WQ-9).
    pub(crate) fn pop_locked(&self, state: &mut State<T>) -> Option<T> {
        let item = state.queue.pop_front()?;
        if let Some(status) = state.status.get_mut(&item) {
            *status = Status::Processing;
        }
        if let Some(recorder) = &mut state.recorder {
            recorder.get_locked(&item, self.clock.now());
        }
        Some(item)
    }

    /// `done` with the lock held (WQ-11..WQ-14). `owned` makes the copy to re-queue, if needed.
    pub(crate) fn done_locked<I>(&self, state: &mut State<T>, item: I, owned: fn(I) -> T) -> bool
    where
        I: std::borrow::Borrow<T>,
    {
        let requeue = match state.status.entry_ref(item.borrow()) {
            EntryRef::Occupied(entry) if *entry.get() == Status::Processing => {
                entry.remove();
                false
            }
            EntryRef::Occupied(mut entry) if *entry.get() == Status::Requeue => {
                *entry.get_mut() = Status::Queued;
                true
            }
            // Queued or unknown: not being processed (WQ-14).
            _ => return false,
        };
        if let Some(recorder) = &mut state.recorder {
            recorder.done_locked(item.borrow(), self.clock.now());
        }
        if requeue {
            state.queue.push_back(owned(item));
            self.wake_one();
        } else if state.status.is_empty() && state.shutting_down {
            self.wake_drainers();
        }
        true
    }

    /// Begins a shutdown (WQ-16, WQ-17, DL-10); the caller waits for the drain if it wants to.
    pub(crate) fn shut_down(&self, drain: bool) {
        let ticker = {
            let mut state = self.state.lock();
            state.shutting_down = true;
            state.drain = drain;
            if let Some(delays) = &mut state.delays {
                delays.clear_locked();
            }
            state.ticker.take()
        };
        if let Some(ticker) = ticker {
            ticker.stop();
        }
        self.ready.notify_all();
        #[cfg(feature = "async")]
        self.ready_async.notify_waiters();
        self.wake_drainers();
    }

    /// Wakes one waiting getter, preferring a blocking one.
    fn wake_one(&self) {
        let woke = self.ready.notify_one();
        #[cfg(feature = "async")]
        if !woke {
            self.ready_async.notify_one();
        }
        #[cfg(not(feature = "async"))]
        let _ = woke;
    }

    fn wake_drainers(&self) {
        self.drained.notify_all();
        #[cfg(feature = "async")]
        self.drained_async.notify_waiters();
    }

    /// The ticker's work: refresh the in-flight gauges and re-arm (WQ-21, WQ-26).
    fn refresh_metrics(&self) {
        let state = self.state.lock();
        if state.shutting_down {
            return;
        }
        if let Some(recorder) = &state.recorder {
            recorder.refresh_locked(self.clock.now());
        }
        if let Some(ticker) = &state.ticker {
            ticker.reset(REFRESH_PERIOD);
        }
    }

    /// Locks the state (for the layers above).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }
}

impl<T> Drop for State<T> {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> Default for Queue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("Queue")
            .field("len", &state.queue.len())
            .field("in_flight_or_dirty", &state.status.len())
            .field("shutting_down", &state.shutting_down)
            .finish_non_exhaustive()
    }
}
