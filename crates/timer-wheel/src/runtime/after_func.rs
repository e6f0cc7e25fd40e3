//! [`after_func`]: Go's `time.AfterFunc` (TW-15).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::driver::{Driver, DriverRef};
use super::entry::{Action, TimerShared};

/// Runs `f` once after `delay` on the [global driver](Driver::global)'s callback thread.
///
/// See [`Driver::after_func`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use timer_wheel::after_func;
///
/// let (tx, rx) = crossbeam_channel::bounded(1);
/// let _handle = after_func(Duration::from_millis(1), move || {
///     let _ = tx.try_send("ran");
/// });
/// assert_eq!(rx.recv().unwrap(), "ran");
/// ```
#[doc(alias = "AfterFunc")]
pub fn after_func(delay: Duration, f: impl Fn() + Send + Sync + 'static) -> AfterFunc {
    Driver::global().after_func(delay, f)
}

/// The handle of an [`after_func`] callback: stop it or re-arm it.
///
/// Dropping the handle does not cancel the callback (as in Go, and like a detached task): call
/// [`stop`](AfterFunc::stop) for that.
pub struct AfterFunc {
    driver: DriverRef,
    shared: Arc<TimerShared>,
}

impl AfterFunc {
    /// Prevents the callback from running. Returns `true` if it was pending; `false` if it has
    /// already been handed to the executor (it may be running) or was stopped before.
    #[doc(alias = "Stop")]
    pub fn stop(&self) -> bool {
        self.driver.inner().disarm(&self.shared, || {})
    }

    /// Re-arms the callback to run `delay` from now (again, if it already ran). Returns whether
    /// it was pending.
    #[doc(alias = "Reset")]
    pub fn reset(&self, delay: Duration) -> bool {
        self.driver.inner().arm(&self.shared, delay, 0)
    }
}

impl Driver {
    /// Runs `f` once after `delay`, off the driver's loop: on the driver's callback thread, or
    /// inside [`turn`](Driver::turn) after the locks are released for a manual driver. A panic in
    /// `f` is contained. `f` is `Fn` so that [`AfterFunc::reset`] can run it again.
    pub fn after_func(&self, delay: Duration, f: impl Fn() + Send + Sync + 'static) -> AfterFunc {
        let shared = Arc::new(TimerShared::new(
            self.pick_shard(),
            Action::Call(Arc::new(f)),
        ));
        self.inner().arm(&shared, delay, 0);
        AfterFunc {
            driver: self.to_ref(),
            shared,
        }
    }
}

impl fmt::Debug for AfterFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterFunc").finish_non_exhaustive()
    }
}
