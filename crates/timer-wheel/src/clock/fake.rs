//! [`FakeClock`]: virtual time moved only by tests.
//!
//! # Ground rules
//! `state.now` only grows. A thread waiting in `park_until` registers its parker with its deadline
//! in `state.waiters` before it parks and removes it when it wakes; `advance`/`set` unpark every
//! waiter whose deadline has passed (and drop registrations whose parker is gone). Registration and
//! the time check happen under the same lock as the time change, so a wake-up cannot slip between
//! "check the time" and "park".

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Clock, Parker, RealClock, WeakParker};

/// A clock that stands still until a test moves it with [`advance`](FakeClock::advance) or
/// [`set`](FakeClock::set). Clones share one time.
///
/// Anything built on a `FakeClock` (a [`Driver`](crate::Driver), a workqueue's delays, an
/// informer's backoff) fires exactly when the test moves time past its deadline, and never
/// while time stands still.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use timer_wheel::{Clock, FakeClock};
///
/// let clock = FakeClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_millis(250));
/// clock.set(t0 + Duration::from_secs(1));
/// clock.set(t0); // time never goes back: ignored
/// assert_eq!(clock.now(), t0 + Duration::from_secs(1));
/// ```
#[derive(Clone)]
pub struct FakeClock {
    inner: Arc<Mutex<FakeState>>,
}

struct FakeState {
    now: Instant,
    waiters: Vec<(WeakParker, Option<Instant>)>,
}

impl FakeClock {
    /// A fake clock that starts at the real current time and then stands still.
    pub fn new() -> Self {
        Self::starting_at(RealClock.now())
    }

    /// A fake clock that starts at `start`.
    pub fn starting_at(start: Instant) -> Self {
        FakeClock {
            inner: Arc::new(Mutex::new(FakeState {
                now: start,
                waiters: Vec::new(),
            })),
        }
    }

    /// Moves time forward by `by` (saturating far in the future) and wakes every waiter whose
    /// deadline has passed.
    pub fn advance(&self, by: Duration) {
        let mut state = self.inner.lock();
        let target = state
            .now
            .checked_add(by)
            .unwrap_or_else(|| far_future(state.now));
        Self::set_locked(&mut state, target);
    }

    /// Sets the time to `to` if that is later than now (time never goes back), waking every waiter
    /// whose deadline has passed.
    pub fn set(&self, to: Instant) {
        let mut state = self.inner.lock();
        Self::set_locked(&mut state, to);
    }

    /// How many threads are waiting on this clock right now (for tests that need a driver to be
    /// asleep before they move time).
    pub fn waiters(&self) -> usize {
        self.inner.lock().waiters.len()
    }

    fn set_locked(state: &mut FakeState, to: Instant) {
        if to <= state.now {
            return;
        }
        state.now = to;
        state.waiters.retain(|(parker, deadline)| match deadline {
            Some(deadline) if *deadline <= to => {
                parker.unpark();
                false
            }
            // Keep live waiters whose deadline is still ahead; forget dead ones.
            _ => parker.is_alive(),
        });
    }
}

/// The latest time we can represent from `now`: about 30 years ahead, far beyond any timer.
fn far_future(now: Instant) -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    now.checked_add(THIRTY_YEARS).unwrap_or(now)
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FakeClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("FakeClock")
            .field("now", &state.now)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.inner.lock().now
    }

    fn park_until(&self, parker: &Parker, deadline: Option<Instant>) {
        {
            let mut state = self.inner.lock();
            if deadline.is_some_and(|d| d <= state.now) {
                return;
            }
            state.waiters.retain(|(p, _)| !p.is(parker));
            state.waiters.push((WeakParker::new(parker), deadline));
        }
        parker.park();
        self.inner.lock().waiters.retain(|(p, _)| !p.is(parker));
    }
}
