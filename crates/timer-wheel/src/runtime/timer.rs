//! [`Timer`]: Go's `time.Timer` with the Go 1.23 guarantees (TW-12..TW-14, TW-17..TW-19).

use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::driver::Driver;
use super::receive::ChannelTimer;
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};

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

    /// Blocks until the timer fires and returns the time it fired.
    ///
    /// # Errors
    /// [`RecvError::Shutdown`] if the driver shuts down first (never waits forever on a dead
    /// driver).
    pub fn recv(&self) -> Result<Instant, RecvError> {
        self.core.recv()
    }

    /// Returns the value if the timer has fired and it was not taken yet.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if there is nothing to take, [`TryRecvError::Shutdown`] if the
    /// driver is shut down.
    pub fn try_recv(&self) -> Result<Instant, TryRecvError> {
        self.core.try_recv()
    }

    /// Like [`recv`](Timer::recv), giving up after `timeout` of real time.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] or [`RecvTimeoutError::Shutdown`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Instant, RecvTimeoutError> {
        self.core.recv_timeout(timeout)
    }

    /// Waits asynchronously until the timer fires.
    ///
    /// # Errors
    /// [`RecvError::Shutdown`] if the driver shuts down first.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future loses no value; it stays in the channel.
    #[cfg(feature = "async")]
    pub async fn recv_async(&self) -> Result<Instant, RecvError> {
        self.core.recv_async().await
    }

    /// The channel the fire time is delivered on (Go's `C`), for `crossbeam_channel::select!`.
    /// Pair it with [`Driver::shutdown_signal`] if the driver may shut down while you wait.
    #[doc(alias = "C")]
    pub fn receiver(&self) -> &Receiver<Instant> {
        self.core.receiver()
    }

    /// The driver this timer runs on.
    pub fn driver(&self) -> &Driver {
        self.core.driver()
    }
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
