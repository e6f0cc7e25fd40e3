//! [`Driver`]: moves sharded wheels with a clock and fires what is due (TW-11, TW-20).
//!
//! # Ground rules
//! * Each shard is a `Mutex<Wheel<Arc<TimerShared>>>`; a timer lives in the shard it was created
//!   on (threads pick shards round-robin), so threads scheduling at once rarely share a lock.
//! * Firing happens in [`Driver::turn`], shard by shard, under the shard's lock; wakers and
//!   callbacks collected there run after the lock is released, so no user code runs under it.
//! * `parked_until` is the tick the driver thread sleeps until (`AWAKE` while it works). An insert
//!   that is due earlier unparks it. The thread publishes `parked_until` and then looks at every
//!   shard once more before it parks, so an insert that raced with its turn is never slept over.
//! * `shut_down` is set once. Every insert checks it under the shard lock, and shutdown empties
//!   every shard under the same lock afterwards: nothing fires after shutdown returns.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::entry::{Fired, TimerShared, fire_locked, tick_for};
use crate::clock::{Clock, Parker, RealClock, SharedClock};
use crate::error::Error;
use crate::wheel::{Handle, Wheel};

/// The default resolution: one tick of the runtime wheels. Rounding a deadline up to the next tick
/// adds 25 µs on average, so a 1 ms timer fires within about a tenth of its delay once the
/// thread's wake-up latency is counted; a 60 s timer (1.2 million ticks, 2^20.2) still sits at
/// level 3 and is re-filed at most 3 times.
const DEFAULT_RESOLUTION: Duration = Duration::from_micros(50);

/// `parked_until` while the driver thread is awake: inserts need not wake it.
const AWAKE: u64 = 0;

/// Moves timer wheels with a [`Clock`] and fires their timers.
///
/// A driver owns one wheel per shard and, unless it is [manual](DriverBuilder::manual), one thread
/// that sleeps until the next deadline (woken early when a sooner timer is added) and then fires
/// everything due. [`Driver::global`] is a lazily started driver on the [`RealClock`]; build your
/// own for a [`FakeClock`](crate::FakeClock) or a thread of your own. Clones share the driver; it
/// shuts down when the last clone and the last timer made on it are dropped, or on
/// [`shutdown`](Driver::shutdown).
///
/// # Examples
/// A manual driver on a fake clock: time moves only when the test says so.
/// ```
/// use std::time::Duration;
/// use timer_wheel::{Driver, FakeClock};
///
/// let clock = FakeClock::new();
/// let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
/// let timer = driver.timer(Duration::from_secs(10));
///
/// clock.advance(Duration::from_secs(9));
/// assert_eq!(driver.turn(), 0);
/// assert!(timer.try_recv().is_err());
///
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(driver.turn(), 1);
/// assert!(timer.try_recv().is_ok());
/// ```
#[derive(Clone)]
pub struct Driver {
    handle: Arc<DriverHandle>,
}

/// Shuts the driver down when the last user-facing clone goes (the thread holds only `inner`).
struct DriverHandle {
    inner: Arc<DriverInner>,
    global: bool,
}

pub(crate) struct DriverInner {
    name: String,
    clock: SharedClock,
    origin: Instant,
    resolution_nanos: u64,
    shards: Box<[Mutex<Wheel<Arc<TimerShared>>>]>,
    parker: Parker,
    parked_until: AtomicU64,
    shut_down: AtomicBool,
    /// Disconnected at shutdown: receivers select on it so they never wait forever (TW-20).
    shutdown_rx: Receiver<()>,
    shutdown_tx: Mutex<Option<Sender<()>>>,
    /// Serialises turns; holds the reusable buffers of fired work.
    turn: Mutex<Fired>,
    /// Runs `after_func` callbacks; `None` for a manual driver (callbacks run in `turn`).
    callbacks: Mutex<Option<CallbackThread>>,
    threaded: bool,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: OnceLock<ThreadId>,
}

struct CallbackThread {
    tx: Sender<Arc<dyn Fn() + Send + Sync>>,
    join: JoinHandle<()>,
}

/// Configures a [`Driver`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use timer_wheel::{Driver, RealClock};
///
/// let driver = Driver::builder()
///     .clock(RealClock::new())
///     .resolution(Duration::from_millis(1))
///     .name("my-timers")
///     .spawn()
///     .unwrap();
/// let timer = driver.timer(Duration::from_millis(1));
/// assert!(timer.recv().is_ok());
/// driver.shutdown();
/// ```
#[derive(Debug)]
pub struct DriverBuilder {
    clock: SharedClock,
    resolution: Duration,
    shards: usize,
    name: String,
}

impl Default for DriverBuilder {
    fn default() -> Self {
        let shards = thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(64);
        DriverBuilder {
            clock: Arc::new(RealClock),
            resolution: DEFAULT_RESOLUTION,
            shards,
            name: "timer-wheel".to_owned(),
        }
    }
}

impl DriverBuilder {
    /// The clock the driver reads and waits on (default: [`RealClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock, already shared.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// One tick of the wheels (default 50 µs): timers fire on the first tick at or after their
    /// deadline, so this bounds lateness on top of the thread's wake-up latency. 1 µs to 1 s.
    pub fn resolution(mut self, resolution: Duration) -> Self {
        self.resolution = resolution;
        self
    }

    /// Number of wheels (default: the number of CPUs, at most 64); more shards let more threads
    /// schedule and cancel at once without sharing a lock.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.clamp(1, 1024);
        self
    }

    /// The driver thread's name (default `timer-wheel`); the callback thread adds `-callbacks`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Starts the driver with its own thread.
    ///
    /// # Errors
    /// [`Error::Resolution`] for a resolution outside 1 µs..=1 s, [`Error::Spawn`] if the thread
    /// cannot be started.
    pub fn spawn(self) -> Result<Driver, Error> {
        self.spawn_as(false)
    }

    fn spawn_as(self, global: bool) -> Result<Driver, Error> {
        let inner = self.build(true)?;
        let thread_inner = Arc::clone(&inner);
        let join = thread::Builder::new()
            .name(inner.name.clone())
            .spawn(move || thread_inner.run())
            .map_err(|source| Error::Spawn {
                name: inner.name.clone(),
                source,
            })?;
        let _ = inner.thread_id.set(join.thread().id());
        *inner.thread.lock() = Some(join);
        Ok(Driver::from_inner(inner, global))
    }

    /// A driver without a thread: the caller moves it with [`Driver::turn`] (after moving its
    /// fake clock), and `after_func` callbacks run inside `turn`, after the locks are released.
    ///
    /// # Errors
    /// [`Error::Resolution`] for a resolution outside 1 µs..=1 s.
    pub fn manual(self) -> Result<Driver, Error> {
        Ok(Driver::from_inner(self.build(false)?, false))
    }

    fn build(self, threaded: bool) -> Result<Arc<DriverInner>, Error> {
        if self.resolution < Duration::from_micros(1) || self.resolution > Duration::from_secs(1) {
            return Err(Error::Resolution {
                resolution: self.resolution,
            });
        }
        let origin = self.clock.now();
        let (shutdown_tx, shutdown_rx) = crossbeam_channel::bounded(0);
        Ok(Arc::new(DriverInner {
            name: self.name,
            clock: self.clock,
            origin,
            resolution_nanos: self.resolution.as_nanos() as u64,
            shards: (0..self.shards)
                .map(|_| Mutex::new(Wheel::starting_at(0)))
                .collect(),
            parker: Parker::new(),
            parked_until: AtomicU64::new(AWAKE),
            shut_down: AtomicBool::new(false),
            shutdown_rx,
            shutdown_tx: Mutex::new(Some(shutdown_tx)),
            turn: Mutex::new(Fired::default()),
            callbacks: Mutex::new(None),
            threaded,
            thread: Mutex::new(None),
            thread_id: OnceLock::new(),
        }))
    }
}

impl Driver {
    /// A builder for a driver of your own.
    pub fn builder() -> DriverBuilder {
        DriverBuilder::default()
    }

    /// A threaded driver on `clock` with the default settings.
    ///
    /// # Errors
    /// [`Error::Spawn`] if the thread cannot be started.
    pub fn new(clock: impl Clock) -> Result<Driver, Error> {
        Self::builder().clock(clock).spawn()
    }

    /// The process-wide driver on the [`RealClock`], started on first use. It is never shut down.
    ///
    /// # Panics
    /// If its thread cannot be started the first time (the process is out of threads).
    pub fn global() -> &'static Driver {
        static GLOBAL: OnceLock<Driver> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            DriverBuilder::default()
                .name("timer-wheel-global")
                .spawn_as(true)
                .expect("cannot start the global timer-wheel driver thread")
        })
    }

    fn from_inner(inner: Arc<DriverInner>, global: bool) -> Driver {
        Driver {
            handle: Arc::new(DriverHandle { inner, global }),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<DriverInner> {
        &self.handle.inner
    }

    /// The driver's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner().clock
    }

    /// The driver's tick.
    pub fn resolution(&self) -> Duration {
        Duration::from_nanos(self.inner().resolution_nanos)
    }

    /// Whether [`shutdown`](Driver::shutdown) has run.
    pub fn is_shut_down(&self) -> bool {
        self.inner().shut_down.load(SeqCst)
    }

    /// Number of pending timers, tickers and callbacks.
    pub fn pending(&self) -> usize {
        self.inner().shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Fires, on the calling thread, everything due at the clock's current time; returns how
    /// many timers fired. A manual driver is moved only by this; on a threaded driver it is
    /// harmless (the thread would have done the same a moment later).
    pub fn turn(&self) -> usize {
        self.inner().turn().0
    }

    /// Stops the driver: pending timers never fire, their receivers report
    /// [`RecvError::Shutdown`](crate::RecvError::Shutdown) instead of waiting, new timers never
    /// fire, and the threads are joined (TW-20). Idempotent. The [global](Driver::global) driver
    /// ignores it.
    pub fn shutdown(&self) {
        if !self.handle.global {
            self.inner().shutdown();
        }
    }

    /// Disconnects when the driver shuts down: add it to a `select!` over a timer's
    /// [`receiver`](crate::Timer::receiver) so the wait ends then.
    pub fn shutdown_signal(&self) -> &Receiver<()> {
        &self.inner().shutdown_rx
    }

    /// The shard a new timer goes to: round-robin per thread, remembered by the thread.
    pub(crate) fn pick_shard(&self) -> usize {
        thread_local! {
            static SHARD_SEED: usize = next_seed();
        }
        fn next_seed() -> usize {
            static SEEDS: AtomicUsize = AtomicUsize::new(0);
            SEEDS.fetch_add(1, Relaxed)
        }
        SHARD_SEED.with(|seed| *seed % self.inner().shards.len())
    }
}

/// A driver as a timer holds it: the global one by `'static` reference, so creating and dropping
/// timers on it touches no shared reference count (two threads doing so would contend on that
/// one cache line); any other by a clone that keeps it alive.
pub(crate) enum DriverRef {
    Global(&'static Driver),
    Owned(Driver),
}

impl std::ops::Deref for DriverRef {
    type Target = Driver;

    fn deref(&self) -> &Driver {
        match self {
            DriverRef::Global(driver) => driver,
            DriverRef::Owned(driver) => driver,
        }
    }
}

impl Driver {
    /// How a timer made on this driver holds it.
    pub(crate) fn to_ref(&self) -> DriverRef {
        if self.handle.global {
            DriverRef::Global(Driver::global())
        } else {
            DriverRef::Owned(self.clone())
        }
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner();
        f.debug_struct("Driver")
            .field("name", &inner.name)
            .field("clock", &inner.clock)
            .field("resolution", &self.resolution())
            .field("shards", &inner.shards.len())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

impl Drop for DriverHandle {
    fn drop(&mut self) {
        if !self.global {
            self.inner.shutdown();
        }
    }
}

impl DriverInner {
    /// Nanoseconds from the origin to `at` (0 before it, saturating far ahead).
    pub(crate) fn nanos_since_origin(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(SeqCst)
    }

    pub(crate) fn shutdown_rx(&self) -> &Receiver<()> {
        &self.shutdown_rx
    }

    /// Arms (or re-arms) `timer` to be due `delay` from now, with `period` for tickers (0 for
    /// one-shot). Returns whether it was pending before. Does nothing after shutdown.
    pub(crate) fn arm(&self, timer: &Arc<TimerShared>, delay: Duration, period: u64) -> bool {
        let now_nanos = self.nanos_since_origin(self.clock.now());
        let delay_nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        let due = now_nanos.saturating_add(delay_nanos);
        let tick = tick_for(due, now_nanos, self.resolution_nanos);
        let was_pending;
        {
            let mut wheel = self.shards[timer.shard].lock();
            if self.is_shut_down() {
                return false;
            }
            timer.set_schedule_locked(due, period);
            was_pending = match timer.handle_locked() {
                Some(handle) if wheel.reset(handle, tick) => true,
                _ => {
                    let handle = wheel.insert(tick, Arc::clone(timer));
                    timer.set_handle_locked(Some(handle));
                    false
                }
            };
        }
        if tick < self.parked_until.load(SeqCst) {
            self.parker.unpark();
        }
        was_pending
    }

    /// Disarms `timer`; returns whether it was pending. `after` runs under the shard lock, after
    /// the timer left the wheel, so no firing can interleave with it.
    pub(crate) fn disarm(&self, timer: &TimerShared, after: impl FnOnce()) -> bool {
        let mut wheel = self.shards[timer.shard].lock();
        let was_pending = timer
            .handle_locked()
            .is_some_and(|handle: Handle| wheel.cancel(handle).is_some());
        timer.set_handle_locked(None);
        after();
        was_pending
    }

    /// One pass: fires everything due now. Returns the count and the earliest next tick.
    fn turn(&self) -> (usize, Option<u64>) {
        let mut fired = self.turn.lock();
        let now = self.clock.now();
        let now_nanos = self.nanos_since_origin(now);
        let now_tick = now_nanos / self.resolution_nanos;
        let mut count = 0;
        let mut next: Option<u64> = None;
        for shard in self.shards.iter() {
            let mut wheel = shard.lock();
            while let Some((_, timer)) = wheel.poll(now_tick) {
                fire_locked(
                    timer,
                    &mut wheel,
                    now,
                    now_nanos,
                    self.resolution_nanos,
                    &mut fired,
                );
                count += 1;
            }
            next = min_tick(next, wheel.next_deadline());
        }
        #[cfg(feature = "async")]
        for waker in fired.wakers.drain(..) {
            waker.wake();
        }
        if !fired.calls.is_empty() {
            let mut calls = std::mem::take(&mut fired.calls);
            drop(fired);
            self.dispatch(&mut calls);
            // Give the buffer back for reuse (another turn may have left one meanwhile).
            let mut fired = self.turn.lock();
            if fired.calls.capacity() < calls.capacity() {
                fired.calls = calls;
            }
        }
        (count, next)
    }

    /// Runs fired callbacks: on the callback thread for a threaded driver, else right here.
    fn dispatch(&self, calls: &mut Vec<Arc<dyn Fn() + Send + Sync>>) {
        if self.threaded {
            let mut callbacks = self.callbacks.lock();
            if callbacks.is_none() && !self.is_shut_down() {
                *callbacks = spawn_callback_thread(&self.name);
            }
            if let Some(thread) = callbacks.as_ref() {
                for call in calls.drain(..) {
                    let _ = thread.tx.send(call);
                }
                return;
            }
        }
        for call in calls.drain(..) {
            run_callback(&call);
        }
    }

    /// The driver thread: turn, publish the sleep deadline, re-check, sleep.
    fn run(self: Arc<Self>) {
        while !self.is_shut_down() {
            self.parked_until.store(AWAKE, SeqCst);
            let (_, next) = self.turn();
            let until = next.unwrap_or(u64::MAX);
            self.parked_until.store(until, SeqCst);
            let raced = self
                .shards
                .iter()
                .filter_map(|s| s.lock().next_deadline())
                .any(|tick| tick < until);
            if raced || self.is_shut_down() {
                continue;
            }
            let deadline = next.and_then(|tick| {
                let nanos = tick.checked_mul(self.resolution_nanos)?;
                self.origin.checked_add(Duration::from_nanos(nanos))
            });
            self.clock.park_until(&self.parker, deadline);
        }
    }

    fn shutdown(&self) {
        if self.shut_down.swap(true, SeqCst) {
            return;
        }
        drop(self.shutdown_tx.lock().take());
        self.parker.unpark();
        let current = thread::current().id();
        if let Some(join) = self.thread.lock().take()
            && join.thread().id() != current
        {
            let _ = join.join();
        }
        for shard in self.shards.iter() {
            let mut wheel = shard.lock();
            for (_, _, timer) in wheel.iter() {
                timer.set_handle_locked(None);
                #[cfg(feature = "async")]
                if let super::entry::Action::Send { waker, .. } = &timer.action
                    && let Some(waker) = waker.lock().take()
                {
                    waker.wake();
                }
            }
            wheel.clear();
        }
        if let Some(callbacks) = self.callbacks.lock().take() {
            drop(callbacks.tx);
            if callbacks.join.thread().id() != current {
                let _ = callbacks.join.join();
            }
        }
    }
}

fn min_tick(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn spawn_callback_thread(name: &str) -> Option<CallbackThread> {
    let (tx, rx) = crossbeam_channel::unbounded::<Arc<dyn Fn() + Send + Sync>>();
    let join = thread::Builder::new()
        .name(format!("{name}-callbacks"))
        .spawn(move || {
            for call in rx {
                run_callback(&call);
            }
        })
        .ok()?;
    Some(CallbackThread { tx, join })
}

/// Runs a callback; a panic is contained (and reported) so it cannot kill the executor.
fn run_callback(call: &Arc<dyn Fn() + Send + Sync>) {
    if std::panic::catch_unwind(AssertUnwindSafe(|| call())).is_err() {
        eprintln!("timer-wheel: an after_func callback panicked; the panic was contained");
    }
}
