//! Time sources: the [`Clock`] trait, the monotonic [`RealClock`] and the test-driven
//! [`FakeClock`] (TW-9, TW-10).
//!
//! Everything time-based in flywheel reads time from a `Clock` and waits through it, so a test
//! swaps in a [`FakeClock`] and moves time by hand instead of sleeping.

mod fake;
mod parker;
mod real;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

pub use fake::FakeClock;
pub use parker::Parker;
pub(crate) use parker::WeakParker;
pub use real::RealClock;

/// A source of monotonic time, and the one way to wait for a point in it.
///
/// Implementations must be monotonic: `now` never goes backwards.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use timer_wheel::{Clock, FakeClock};
///
/// let clock = FakeClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now() - start, Duration::from_secs(5));
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time on this clock.
    fn now(&self) -> Instant;

    /// Blocks the calling thread until `deadline` has passed on this clock (`None`: no deadline)
    /// or `parker` is unparked, whichever comes first. May return early (spuriously); callers
    /// re-read [`now`](Clock::now) and decide whether to wait again.
    fn park_until(&self, parker: &Parker, deadline: Option<Instant>);
}

/// A clock shared between components: what every flywheel type that needs time accepts.
pub type SharedClock = Arc<dyn Clock>;

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn park_until(&self, parker: &Parker, deadline: Option<Instant>) {
        (**self).park_until(parker, deadline)
    }
}
