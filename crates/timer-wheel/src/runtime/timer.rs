//! [`Timer`]: Go's `time.Timer` with the Go 1.23 guarantees (TW-12..TW-14, TW-17..TW-19).

use std::fmt;
use std::time::Duration;

use super::driver::Driver;
use super::receive::ChannelTimer;

/// A one-shot timer that delivers the time it fired on a one-slot channel.
///
/// The driver's send never blocks: the channel holds at most one value (TW-12). Once
/// [`stop`](Timer::stop) or [`reset`](Timer::reset) returns, no value from before the call is
/// received (TW-13, TW-14). Dropping the timer stops it and frees its entry (TW-17). Durations
/// saturate: `Duration::MAX` simply never fires, and zero fires on the driver's next pass
/// (TW-19).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use timer_wheel::Timer;
///
/// let timer = Timer::new(Duration::from_millis(5));
/// let fired_at = timer.recv().unwrap();
///
/// // Re-arm it; stop it before it fires.
/// assert!(!timer.reset(Duration::from_secs(60)));
/// assert!(timer.stop());
/// assert!(timer.try_recv().is_err());
/// # let _ = fired_at;
/// ```
///
/// With `crossbeam_channel::select!`:
/// ```
/// use std::time::Duration;
/// use crossbeam_channel::{select, unbounded};
/// use timer_wheel::Timer;
///
/// let (_tx, work) = unbounded::<u32>();
/// let timeout = Timer::new(Duration::from_millis(1));
/// select! {
///     recv(work) -> job => println!("job {job:?}"),
///     recv(timeout.receiver()) -> _ => println!("timed out"),
/// }
/// ```
pub struct Timer {
    core: ChannelTimer,
}

impl Timer {
    /// A timer on the [global driver](Driver::global) that fires after `delay`.
    #[doc(alias = "NewTimer")]
    pub fn new(delay: Duration) -> Timer {
        Driver::global().timer(delay)
    }

    /// Stops the timer. Returns `true` if this call stopped it while pending, `false` if it had
    /// already fired or been stopped. Either way, no value from before the call is received
    /// afterwards.
    #[doc(alias = "Stop")]
    pub fn stop(&self) -> bool {
        self.core.disarm()
    }

    /// Re-arms the timer to fire `delay` from now. Returns whether it was pending. No value from
    /// the previous arming is received afterwards.
    #[doc(alias = "Reset")]
    pub fn reset(&self, delay: Duration) -> bool {
        self.core.arm(delay, Duration::ZERO)
    }

    super::receive::channel_receive_methods!("firing");
}

impl Driver {
    /// A timer on this driver that fires after `delay`.
    pub fn timer(&self, delay: Duration) -> Timer {
        let timer = Timer {
            core: ChannelTimer::new(self),
        };
        timer.core.arm(delay, Duration::ZERO);
        timer
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer").finish_non_exhaustive()
    }
}
