//! [`Backoff`]: the reflector's jittered exponential backoff (RF-2), on a timer-wheel clock.

use std::fmt;
use std::time::{Duration, Instant};

use timer_wheel::SharedClock;

/// First delay: a watch that broke after running a long time relists after 0.8–1.6 s.
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(800);
/// Delay cap: a crash-looping server is polled every 30–60 s.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// The delay goes back to [`BACKOFF_INITIAL`] when this long has passed since the last reset.
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(120);

/// client-go's reflector backoff (RF-2): each step returns `d + rand[0,1)·d` (in `[d, 2d)`,
/// jitter 1.0), then doubles `d` up to [`BACKOFF_CAP`]; `d` resets to [`BACKOFF_INITIAL`] once
/// more than [`BACKOFF_RESET_AFTER`] elapsed since the last reset. Time comes from the given
/// clock, randomness from a seedable generator.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use informer::Backoff;
/// use timer_wheel::FakeClock;
///
/// let clock = FakeClock::new();
/// let mut backoff = Backoff::new(Arc::new(clock.clone())).with_seed(7);
/// let first = backoff.next_delay();
/// assert!(first >= Duration::from_millis(800) && first < Duration::from_millis(1600));
/// let second = backoff.next_delay();
/// assert!(second >= Duration::from_millis(1600) && second < Duration::from_millis(3200));
/// clock.advance(Duration::from_secs(121));
/// assert!(backoff.next_delay() < Duration::from_millis(1600), "reset after 2 min");
/// ```
pub struct Backoff {
    clock: SharedClock,
    rng: fastrand::Rng,
    current: Duration,
    last_reset: Instant,
}

impl Backoff {
    /// A backoff at its initial delay, reading time from `clock`.
    pub fn new(clock: SharedClock) -> Self {
        let last_reset = clock.now();
        Self {
            clock,
            rng: fastrand::Rng::new(),
            current: BACKOFF_INITIAL,
            last_reset,
        }
    }

    /// Uses a deterministic random sequence (for tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// The next delay to wait, advancing the state (RF-2).
    pub fn next_delay(&mut self) -> Duration {
        let now = self.clock.now();
        if now.saturating_duration_since(self.last_reset) > BACKOFF_RESET_AFTER {
            self.current = BACKOFF_INITIAL;
            self.last_reset = now;
        }
        let base = self.current;
        let delay = base + base.mul_f64(self.rng.f64());
        self.current = (base * 2).min(BACKOFF_CAP);
        delay
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("current", &self.current)
            .field("last_reset", &self.last_reset)
            .finish_non_exhaustive()
    }
}
