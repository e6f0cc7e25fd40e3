//! [`Ticker`]: Go's `time.Ticker` (TW-16, TW-17).

use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::driver::Driver;
use super::receive::ChannelTimer;
use crate::error::{Error, RecvError, RecvTimeoutError, TryRecvError};

/// Delivers the time every `period` on a one-slot channel.
///
/// A reader that falls behind finds at most one tick waiting: ticks it missed are dropped, not
/// queued, and the next tick stays on the original cadence (start + k·period), so processing
/// time causes no drift (TW-16). Dropping the ticker stops it (TW-17).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use timer_wheel::Ticker;
///
/// let ticker = Ticker::new(Duration::from_millis(2)).unwrap();
/// for _ in 0..3 {
///     ticker.recv().unwrap();
/// }
/// ticker.stop();
/// assert!(Ticker::new(Duration::ZERO).is_err());
/// ```
pub struct Ticker {
    core: ChannelTimer,
}

impl Ticker {
    /// A ticker on the [global driver](Driver::global).
    ///
    /// # Errors
    /// [`Error::ZeroPeriod`] for a zero period (Go panics; we don't).
    #[doc(alias = "NewTicker")]
    pub fn new(period: Duration) -> Result<Ticker, Error> {
        Driver::global().ticker(period)
    }

    /// Stops the ticker; no tick from before the call is received afterwards. Returns whether it
    /// was running.
    #[doc(alias = "Stop")]
    pub fn stop(&self) -> bool {
        self.core.disarm()
    }

    /// Restarts the ticker with a new `period`, the first tick one period from now. A tick
    /// waiting from before is dropped.
    ///
    /// # Errors
    /// [`Error::ZeroPeriod`] for a zero period; the ticker is left as it was.
    #[doc(alias = "Reset")]
    pub fn reset(&self, period: Duration) -> Result<(), Error> {
        check_period(period)?;
        self.core.arm(period, period);
        Ok(())
    }

    /// Blocks until the next tick.
    ///
    /// # Errors
    /// [`RecvError::Shutdown`] if the driver shuts down first.
    pub fn recv(&self) -> Result<Instant, RecvError> {
        self.core.recv()
    }

    /// Takes a waiting tick, if any.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] or [`TryRecvError::Shutdown`].
    pub fn try_recv(&self) -> Result<Instant, TryRecvError> {
        self.core.try_recv()
    }

    /// Like [`recv`](Ticker::recv), giving up after `timeout` of real time.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] or [`RecvTimeoutError::Shutdown`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Instant, RecvTimeoutError> {
        self.core.recv_timeout(timeout)
    }

    /// Waits asynchronously for the next tick.
    ///
    /// # Errors
    /// [`RecvError::Shutdown`] if the driver shuts down first.
    ///
    /// # Cancel safety
    /// Cancel safe: a tick is never lost by dropping the future.
    #[cfg(feature = "async")]
    pub async fn recv_async(&self) -> Result<Instant, RecvError> {
        self.core.recv_async().await
    }

    /// The channel ticks are delivered on (Go's `C`), for `crossbeam_channel::select!`.
    #[doc(alias = "C")]
    pub fn receiver(&self) -> &Receiver<Instant> {
        self.core.receiver()
    }

    /// The driver this ticker runs on.
    pub fn driver(&self) -> &Driver {
        self.core.driver()
    }
}

impl Driver {
    /// A ticker on this driver.
    ///
    /// # Errors
    /// [`Error::ZeroPeriod`] for a zero period.
    pub fn ticker(&self, period: Duration) -> Result<Ticker, Error> {
        check_period(period)?;
        let ticker = Ticker {
            core: ChannelTimer::new(self),
        };
        ticker.core.arm(period, period);
        Ok(ticker)
    }
}

fn check_period(period: Duration) -> Result<(), Error> {
    if period.is_zero() {
        Err(Error::ZeroPeriod { period })
    } else {
        Ok(())
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticker").finish_non_exhaustive()
    }
}
