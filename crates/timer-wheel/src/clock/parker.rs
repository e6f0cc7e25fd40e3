//! [`Parker`]: a one-token wake-up signal a thread can block on.
//!
//! # Ground rules
//! `notified` is the token. `unpark` sets it and wakes the parked thread; `park*` consumes it.
//! A token set before `park` makes that `park` return at once, so a wake-up sent between
//! "decide to sleep" and "sleep" is never lost. Both fields are only touched under `notified`'s
//! mutex, so the condition variable cannot miss a notification.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A wake-up signal for one waiting thread, shared by reference counting.
///
/// Clocks block a driver thread on a `Parker` until a deadline passes
/// ([`Clock::park_until`](crate::Clock::park_until)); anyone holding a clone can cut the wait
/// short with [`unpark`](Parker::unpark). Like [`std::thread::park`], an `unpark` that comes
/// before the `park` is remembered, so no wake-up is lost.
///
/// # Examples
/// ```
/// use timer_wheel::Parker;
///
/// let parker = Parker::new();
/// parker.unpark(); // remembered
/// parker.park(); // returns at once, consuming the token
/// ```
#[derive(Clone, Debug, Default)]
pub struct Parker {
    inner: Arc<ParkerInner>,
}

#[derive(Debug, Default)]
struct ParkerInner {
    notified: Mutex<bool>,
    condvar: Condvar,
}

impl Parker {
    /// Creates a parker with no pending token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the token and wakes the thread parked on this parker, if any.
    pub fn unpark(&self) {
        let mut notified = self.inner.notified.lock();
        *notified = true;
        self.inner.condvar.notify_one();
    }

    /// Blocks until the token is set, then consumes it.
    pub fn park(&self) {
        let mut notified = self.inner.notified.lock();
        while !*notified {
            self.inner.condvar.wait(&mut notified);
        }
        *notified = false;
    }

    /// Blocks until the token is set or `timeout` of real time has passed.
    ///
    /// Returns `true` if the token was consumed, `false` on time-out.
    pub fn park_timeout(&self, timeout: Duration) -> bool {
        let mut notified = self.inner.notified.lock();
        if !*notified {
            // A spurious or timed-out wake leaves the token unset; the caller re-checks its clock.
            let _timed_out = self.inner.condvar.wait_for(&mut notified, timeout);
        }
        std::mem::take(&mut *notified)
    }

    /// Whether two parkers are clones of one another.
    pub fn same_as(&self, other: &Parker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// A parker held weakly, so a clock's waiter list never keeps a dead driver alive.
#[derive(Debug)]
pub(crate) struct WeakParker(std::sync::Weak<ParkerInner>);

impl WeakParker {
    pub(crate) fn new(parker: &Parker) -> Self {
        Self(Arc::downgrade(&parker.inner))
    }

    /// Unparks the parker if it is still alive; returns whether it was.
    pub(crate) fn unpark(&self) -> bool {
        match self.0.upgrade() {
            Some(inner) => {
                Parker { inner }.unpark();
                true
            }
            None => false,
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }

    pub(crate) fn is(&self, parker: &Parker) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&parker.inner))
    }
}
