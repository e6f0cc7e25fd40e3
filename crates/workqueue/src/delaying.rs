//! [`DelayingQueue`]: a [`Queue`] with `add_after` (DL-1..DL-11), on a timing wheel.
//!
//! # Implementation
//! The waiting items live in the queue's own state, under the queue's lock: a
//! [`Wheel`] holds each item once, filed at its deadline in ticks of the driver's resolution from
//! an origin instant (deadlines rounded *up*, so nothing is ever added early), and `index` maps
//! an item to its wheel handle without storing the item a second time: it is a table of
//! [`Waiting`] entries (the handle, and whether the wait is a rate-limited retry) hashed by the
//! item the handle points to. That makes earliest-deadline-wins (DL-6) and `cancel_after` O(1),
//! at about 40 + 14 bytes per waiting `u64` item.
//!
//! One [`AfterFunc`] on the [`Driver`] stands for the whole wheel, armed for its earliest
//! deadline (`armed`). Scheduling something sooner re-arms it; when it fires, its callback (which
//! holds only a `Weak` to the queue) adds every due item and re-arms for the next. No thread and
//! no timer per item.
//!
//! # Ground rules
//! * An item has an entry in `index` iff it is pending in `wheel` (at most once).
//! * An entry's `retry` flag says the wait stands for a rate-limited retry that the limiter has
//!   already counted; it is set by [`RateLimitingQueue`](crate::RateLimitingQueue) and cleared by
//!   its `forget`, always under the queue's lock together with the limiter call it goes with.
//! * The only moment a handle in `index` may be stale is between a `poll` of the wheel and the
//!   removal of that item's entry, which happen together in [`Delays::pop_due_locked`]; so a
//!   stale handle found during a look-up is the one being removed.
//! * `armed` is the tick the timer is set for, or `None` when it is not set; whenever the wheel
//!   is non-empty, `armed` is at or before its earliest deadline.
//! * Lock order: the queue's lock, then the driver's (re-arming happens under the queue's lock,
//!   so two threads cannot re-arm out of order); the driver runs the callback with none of its
//!   locks held.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::Deref;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hashbrown::{DefaultHashBuilder, HashTable};
use timer_wheel::{AfterFunc, Driver, Handle, Wheel};

use crate::config::QueueConfig;
use crate::error::Error;
use crate::queue::{Queue, Shared, State};

/// A [`Queue`] that can also add an item after a delay. It dereferences to the [`Queue`], so
/// `add`, `get`, `done`, `len` and the shutdowns are the queue's.
///
/// * [`add_after`](DelayingQueue::add_after) of an item that is already waiting keeps the earlier
///   deadline (DL-6); a zero delay adds at once (DL-3).
/// * A waiting item is independent of the queue proper (DL-7): it can be queued or in flight at
///   the same time, and is added (and de-duplicated) when its time comes.
/// * [`cancel_after`](DelayingQueue::cancel_after) withdraws a waiting item.
/// * Shutdown drops the waiting items at once (DL-10).
///
/// Deadlines are rounded up to the driver's resolution (50 µs by default): an item is never
/// added before its delay has passed on the queue's clock. Items due at the same tick are added in
/// the order they were scheduled (DL-11).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use timer_wheel::{Driver, FakeClock};
/// use workqueue::{DelayingQueue, QueueConfig};
///
/// let clock = FakeClock::new();
/// let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
/// let queue = DelayingQueue::with_config(QueueConfig::new().driver(driver.clone()))?;
///
/// queue.add_after("a", Duration::from_secs(3));
/// queue.add_after("a", Duration::from_secs(1)); // earlier: wins
/// queue.add_after("b", Duration::from_secs(2));
/// assert!(queue.cancel_after(&"b"));
///
/// clock.advance(Duration::from_secs(1));
/// driver.turn();
/// assert_eq!(*queue.get().unwrap(), "a");
/// assert_eq!(queue.waiting_len(), 0);
/// # Ok::<(), workqueue::Error>(())
/// ```
#[doc(alias = "DelayingInterface", alias = "TypedDelayingInterface")]
pub struct DelayingQueue<T> {
    queue: Queue<T>,
}

/// The waiting items of a delaying queue; see the module's ground rules. Lives in the queue's
/// state.
pub(crate) struct Delays<T> {
    wheel: Wheel<T>,
    index: HashTable<Waiting>,
    hasher: DefaultHashBuilder,
    /// Tick 0.
    origin: Instant,
    tick_nanos: u64,
    driver: Driver,
    /// Created on first use.
    timer: Option<AfterFunc>,
    armed: Option<u64>,
}

/// A waiting item's entry in the index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Waiting {
    handle: Handle,
    /// The wait is a rate-limited retry the limiter has counted (see the ground rules).
    retry: bool,
}

/// Who schedules a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A plain `add_after`.
    Plain,
    /// A rate-limited retry, counted by the limiter.
    Retry,
}

impl<T: Clone + Eq + Hash + Send + 'static> DelayingQueue<T> {
    /// An unnamed delaying queue on the global driver and the real clock.
    #[doc(alias = "NewDelayingQueue", alias = "NewTypedDelayingQueue")]
    pub fn new() -> Self {
        Self::with_config(QueueConfig::new()).expect("an unnamed queue has no metrics to fail")
    }

    /// A delaying queue built from `config`; delays fire on its driver, on the driver's clock.
    ///
    /// # Errors
    /// Only from the metrics provider of a named queue, such as [`Error::DuplicateName`].
    #[doc(
        alias = "NewDelayingQueueWithConfig",
        alias = "NewTypedDelayingQueueWithConfig"
    )]
    pub fn with_config(config: QueueConfig) -> Result<Self, Error> {
        let driver = config.resolved_driver();
        // Delays are measured on the driver's clock, whatever the queue reads for metrics.
        let origin = driver.clock().now();
        let tick_nanos = u64::try_from(driver.resolution().as_nanos())
            .unwrap_or(1)
            .max(1);
        let delays = Delays {
            wheel: Wheel::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            origin,
            tick_nanos,
            driver,
            timer: None,
            armed: None,
        };
        let shared = Shared::build(&config, Some(delays))?;
        Ok(DelayingQueue {
            queue: Queue { shared },
        })
    }

    /// Adds `item` once `delay` has passed (DL-4). A zero delay adds it at once (DL-3; a `Duration`
    /// cannot be negative). Ignored after shutdown (DL-1).
    ///
    /// If the item is already waiting, the earlier of the two deadlines is kept (DL-6): an item
    /// can be brought forward, never postponed (cancel it first to postpone it).
    #[doc(alias = "AddAfter")]
    pub fn add_after(&self, item: T, delay: Duration) {
        let shared = &self.queue.shared;
        let mut state = shared.lock();
        add_after_locked(shared, &mut state, item, delay, Wait::Plain);
    }

    /// Withdraws `item` if it is waiting; returns whether it was. It does not touch the queue
    /// proper: a copy already queued or in flight stays there.
    pub fn cancel_after(&self, item: &T) -> bool {
        let mut state = self.queue.shared.lock();
        state
            .delays
            .as_mut()
            .is_some_and(|delays| delays.cancel_locked(item))
    }

    /// Whether `item` is waiting for its delay.
    pub fn is_waiting(&self, item: &T) -> bool {
        let state = self.queue.shared.lock();
        state
            .delays
            .as_ref()
            .is_some_and(|delays| delays.find(item).is_some())
    }

    /// Number of items waiting for their delay (not counted by [`len`](Queue::len)).
    pub fn waiting_len(&self) -> usize {
        let state = self.queue.shared.lock();
        state.delays.as_ref().map_or(0, |delays| delays.wheel.len())
    }

    /// The plain queue (a clone of the handle): for workers that only `get`.
    pub fn queue(&self) -> &Queue<T> {
        &self.queue
    }
}

/// `add_after` with the queue's lock held; `wait` marks a rate-limited retry (a zero delay adds at
/// once and leaves no mark).
pub(crate) fn add_after_locked<T: Clone + Eq + Hash + Send + 'static>(
    shared: &Arc<Shared<T>>,
    state: &mut State<T>,
    item: T,
    delay: Duration,
    wait: Wait,
) {
    if state.shutting_down {
        return;
    }
    if let Some(recorder) = &state.recorder {
        recorder.retry(); // DL-2: even for a zero delay
    }
    if delay.is_zero() {
        shared.add_locked(state, item);
        return;
    }
    let delays = state.delays.as_mut().expect("a delaying queue has delays");
    let now = delays.driver.clock().now();
    let tick = delays.tick_after(now, delay);
    if delays.schedule_locked(item, tick, wait) {
        delays.arm_locked(tick, now, shared);
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> Delays<T> {
    /// The first tick at or after `now + delay`.
    fn tick_after(&self, now: Instant, delay: Duration) -> u64 {
        let since = now.saturating_duration_since(self.origin);
        let due = since.saturating_add(delay).as_nanos();
        u64::try_from(due.div_ceil(u128::from(self.tick_nanos))).unwrap_or(u64::MAX)
    }

    /// The last tick at or before `now`.
    fn tick_at(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since / u128::from(self.tick_nanos)).unwrap_or(u64::MAX)
    }

    /// The time from `now` to the start of `tick`.
    fn until(&self, tick: u64, now: Instant) -> Duration {
        let nanos = u128::from(tick) * u128::from(self.tick_nanos);
        let at = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        at.saturating_sub(now.saturating_duration_since(self.origin))
    }

    fn hash(&self, item: &T) -> u64 {
        self.hasher.hash_one(item)
    }

    /// The entry of a waiting item.
    pub(crate) fn find(&self, item: &T) -> Option<Waiting> {
        let wheel = &self.wheel;
        self.index
            .find(self.hash(item), |w| wheel.get(w.handle) == Some(item))
            .copied()
    }

    /// Whether `item` waits for a rate-limited retry that the limiter has counted.
    pub(crate) fn has_retry(&self, item: &T) -> bool {
        self.find(item).is_some_and(|w| w.retry)
    }

    /// Turns `item`'s pending retry, if any, into a plain wait: its deadline stays, but the next
    /// failure is counted again (a `forget` starts a new failure history).
    pub(crate) fn unmark_retry_locked(&mut self, item: &T) {
        let hash = self.hash(item);
        let Delays { wheel, index, .. } = self;
        if let Some(waiting) = index.find_mut(hash, |w| wheel.get(w.handle) == Some(item)) {
            waiting.retry = false;
        }
    }

    /// Files `item` for `tick`, or moves it there if that is earlier than its current deadline
    /// (DL-6); a [`Wait::Retry`] marks the entry as a counted retry whichever deadline wins.
    /// Returns whether the wheel changed.
    fn schedule_locked(&mut self, item: T, tick: u64, wait: Wait) -> bool {
        let hash = self.hash(&item);
        let retry = wait == Wait::Retry;
        let Delays {
            wheel,
            index,
            hasher,
            ..
        } = self;
        if let Some(waiting) = index.find_mut(hash, |w| wheel.get(w.handle) == Some(&item)) {
            waiting.retry |= retry;
            let handle = waiting.handle;
            return match wheel.deadline(handle) {
                Some(current) if tick < current => wheel.reset(handle, tick),
                _ => false,
            };
        }
        let handle = wheel.insert(tick, item);
        let wheel = &*wheel;
        index.insert_unique(hash, Waiting { handle, retry }, |w| {
            hasher.hash_one(wheel.get(w.handle).expect("indexed items are in the wheel"))
        });
        true
    }

    /// Withdraws a waiting item.
    fn cancel_locked(&mut self, item: &T) -> bool {
        let hash = self.hash(item);
        let Delays { wheel, index, .. } = self;
        match index.find_entry(hash, |w| wheel.get(w.handle) == Some(item)) {
            Ok(entry) => {
                let (waiting, _) = entry.remove();
                wheel.cancel(waiting.handle).is_some()
            }
            Err(_) => false,
        }
    }

    /// The next item due at `now_tick`, taken out of the wheel and the index.
    fn pop_due_locked(&mut self, now_tick: u64) -> Option<T> {
        let (_, item) = self.wheel.poll(now_tick)?;
        let hash = self.hash(&item);
        let Delays { wheel, index, .. } = self;
        // The polled entry's handle is the only stale one (ground rules).
        if let Ok(entry) = index.find_entry(hash, |w| !wheel.contains(w.handle)) {
            entry.remove();
        }
        Some(item)
    }

    /// Makes sure the timer fires by `tick`.
    fn arm_locked(&mut self, tick: u64, now: Instant, shared: &Arc<Shared<T>>) {
        if self.armed.is_some_and(|armed| armed <= tick) {
            return;
        }
        self.armed = Some(tick);
        let delay = self.until(tick, now);
        match &self.timer {
            Some(timer) => {
                timer.reset(delay);
            }
            None => {
                let weak = Arc::downgrade(shared);
                self.timer = Some(self.driver.after_func(delay, move || fire(&weak)));
            }
        }
    }

    /// Drops every waiting item and disarms the timer (DL-10).
    pub(crate) fn clear_locked(&mut self) {
        self.wheel.clear();
        self.index.clear();
        self.armed = None;
        if let Some(timer) = &self.timer {
            timer.stop();
        }
    }
}

/// The timer's callback: add what is due, re-arm for the rest (DL-5, DL-8).
fn fire<T: Clone + Eq + Hash + Send + 'static>(weak: &Weak<Shared<T>>) {
    let Some(shared) = weak.upgrade() else {
        return;
    };
    let mut state = shared.lock();
    fire_locked(&shared, &mut state);
}

fn fire_locked<T: Clone + Eq + Hash + Send + 'static>(
    shared: &Arc<Shared<T>>,
    state: &mut State<T>,
) {
    if state.shutting_down {
        return;
    }
    let Some(delays) = state.delays.as_mut() else {
        return;
    };
    delays.armed = None;
    let now = delays.driver.clock().now();
    let now_tick = delays.tick_at(now);
    loop {
        let delays = state.delays.as_mut().expect("checked above");
        let Some(item) = delays.pop_due_locked(now_tick) else {
            break;
        };
        shared.add_locked(state, item);
    }
    let delays = state.delays.as_mut().expect("checked above");
    if let Some(next) = delays.wheel.next_deadline() {
        delays.arm_locked(next, now, shared);
    }
}

impl<T> Drop for Delays<T> {
    fn drop(&mut self) {
        if let Some(timer) = &self.timer {
            timer.stop();
        }
    }
}

impl<T> Deref for DelayingQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Clone for DelayingQueue<T> {
    fn clone(&self) -> Self {
        DelayingQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> Default for DelayingQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for DelayingQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.queue.shared.state.lock();
        f.debug_struct("DelayingQueue")
            .field("len", &state.queue.len())
            .field(
                "waiting",
                &state.delays.as_ref().map_or(0, |d| d.wheel.len()),
            )
            .field("shutting_down", &state.shutting_down)
            .finish_non_exhaustive()
    }
}
