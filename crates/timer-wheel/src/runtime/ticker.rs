//! [`Ticker`]: Go's `time.Ticker` (TW-16, TW-17).

use std::fmt;
use std::time::Duration;

use super::driver::Driver;
use super::receive::ChannelTimer;
use crate::error::Error;

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

    super::receive::channel_receive_methods!("tick");
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
