//! [`RealClock`]: the operating system's monotonic clock. The only module in the workspace that
//! reads `Instant::now` directly.

use std::time::Instant;

use super::{Clock, Parker};

/// The monotonic system clock ([`Instant::now`]); waiting is a timed park of the thread.
///
/// # Examples
/// ```
/// use timer_wheel::{Clock, RealClock};
///
/// let clock = RealClock::new();
/// let a = clock.now();
/// assert!(clock.now() >= a);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RealClock;

impl RealClock {
    /// Creates the real clock (a unit value: every `RealClock` reads the same time).
    pub const fn new() -> Self {
        RealClock
    }
}

impl Clock for RealClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the real clock is the one place that reads it"
    )]
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn park_until(&self, parker: &Parker, deadline: Option<Instant>) {
        match deadline {
            None => parker.park(),
            Some(deadline) => {
                let now = self.now();
                if deadline > now {
                    parker.park_timeout(deadline - now);
                }
            }
        }
    }
}
