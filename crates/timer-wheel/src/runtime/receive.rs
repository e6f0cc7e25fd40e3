//! [`ChannelTimer`]: the core shared by [`Timer`](crate::Timer) and [`Ticker`](crate::Ticker):
//! arming, disarming with the stale-value guarantee, and every way to receive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use super::driver::{Driver, DriverRef};
use super::entry::{Action, TimerShared};
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};

/// A timer that delivers on a one-slot channel.
pub(crate) struct ChannelTimer {
    driver: DriverRef,
    shared: Arc<TimerShared>,
    rx: Receiver<Instant>,
}

impl ChannelTimer {
    pub(crate) fn new(driver: &Driver) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let action = Action::Send {
            tx,
            #[cfg(feature = "async")]
            waker: parking_lot::Mutex::new(None),
        };
        ChannelTimer {
            shared: Arc::new(TimerShared::new(driver.pick_shard(), action)),
            driver: driver.to_ref(),
            rx,
        }
    }

    pub(crate) fn driver(&self) -> &Driver {
        &self.driver
    }

    /// Arms for `delay` (re-arming if pending) after dropping any value not yet received, so
    /// nothing from an earlier arming is seen afterwards (TW-14). Returns whether it was pending.
    pub(crate) fn arm(&self, delay: Duration, period: Duration) -> bool {
        let period = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let was_pending = self.disarm();
        self.driver.inner().arm(&self.shared, delay, period);
        was_pending
    }

    /// Disarms and drops any value not yet received (TW-13). Returns whether it was pending.
    pub(crate) fn disarm(&self) -> bool {
        self.driver
            .inner()
            .disarm(&self.shared, || while self.rx.try_recv().is_ok() {})
    }

    pub(crate) fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    pub(crate) fn try_recv(&self) -> Result<Instant, TryRecvError> {
        match self.rx.try_recv() {
            Ok(at) => Ok(at),
            Err(_) if self.driver.inner().is_shut_down() => Err(TryRecvError::Shutdown),
            Err(_) => Err(TryRecvError::Empty),
        }
    }

    pub(crate) fn recv(&self) -> Result<Instant, RecvError> {
        if let Ok(at) = self.rx.try_recv() {
            return Ok(at);
        }
        select! {
            recv(self.rx) -> at => at.map_err(|_| RecvError::Shutdown),
            recv(self.driver.inner().shutdown_rx()) -> _ => {
                self.rx.try_recv().map_err(|_| RecvError::Shutdown)
            }
        }
    }

    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Result<Instant, RecvTimeoutError> {
        if let Ok(at) = self.rx.try_recv() {
            return Ok(at);
        }
        select! {
            recv(self.rx) -> at => at.map_err(|_| RecvTimeoutError::Shutdown),
            recv(self.driver.inner().shutdown_rx()) -> _ => {
                self.rx.try_recv().map_err(|_| RecvTimeoutError::Shutdown)
            }
            default(timeout) => Err(RecvTimeoutError::Timeout),
        }
    }

    #[cfg(feature = "async")]
    pub(crate) async fn recv_async(&self) -> Result<Instant, RecvError> {
        std::future::poll_fn(|cx| {
            use std::task::Poll;
            if let Ok(at) = self.rx.try_recv() {
                return Poll::Ready(Ok(at));
            }
            if self.driver.inner().is_shut_down() {
                return Poll::Ready(Err(RecvError::Shutdown));
            }
            self.shared.register_waker(cx.waker());
            // A value sent between the first look and the registration is seen here.
            match self.rx.try_recv() {
                Ok(at) => Poll::Ready(Ok(at)),
                Err(_) if self.driver.inner().is_shut_down() => {
                    Poll::Ready(Err(RecvError::Shutdown))
                }
                Err(_) => Poll::Pending,
            }
        })
        .await
    }
}

impl Drop for ChannelTimer {
    fn drop(&mut self) {
        // TW-17: an unreferenced timer is stopped and its wheel entry freed.
        self.driver.inner().disarm(&self.shared, || {});
    }
}

/// The receive methods of a channel-delivering face ([`Timer`](crate::Timer),
/// [`Ticker`](crate::Ticker)), written once: each forwards to the face's `core: ChannelTimer`.
macro_rules! channel_receive_methods {
    ($what:literal) => {
        #[doc = concat!("Blocks until the next ", $what, " and returns its time.")]
        ///
        /// # Errors
        /// [`RecvError::Shutdown`](crate::RecvError::Shutdown) if the driver shuts down first:
        /// never waits forever on a dead driver (TW-20).
        pub fn recv(&self) -> Result<std::time::Instant, crate::RecvError> {
            self.core.recv()
        }

        #[doc = concat!("Takes a waiting ", $what, ", if any.")]
        ///
        /// # Errors
        /// [`TryRecvError::Empty`](crate::TryRecvError::Empty) if nothing waits,
        /// [`TryRecvError::Shutdown`](crate::TryRecvError::Shutdown) if the driver is shut down.
        pub fn try_recv(&self) -> Result<std::time::Instant, crate::TryRecvError> {
            self.core.try_recv()
        }

        /// Like `recv`, giving up after `timeout` of real time.
        ///
        /// # Errors
        /// [`RecvTimeoutError::Timeout`](crate::RecvTimeoutError::Timeout) or
        /// [`RecvTimeoutError::Shutdown`](crate::RecvTimeoutError::Shutdown).
        pub fn recv_timeout(
            &self,
            timeout: std::time::Duration,
        ) -> Result<std::time::Instant, crate::RecvTimeoutError> {
            self.core.recv_timeout(timeout)
        }

        #[doc = concat!("Waits asynchronously for the next ", $what, ".")]
        ///
        /// # Errors
        /// [`RecvError::Shutdown`](crate::RecvError::Shutdown) if the driver shuts down first.
        ///
        /// # Cancel safety
        /// Cancel safe: dropping the future loses no value; it stays in the channel.
        #[cfg(feature = "async")]
        pub async fn recv_async(&self) -> Result<std::time::Instant, crate::RecvError> {
            self.core.recv_async().await
        }

        #[doc = concat!("The channel each ", $what, " is delivered on (Go's `C`), for `crossbeam_channel::select!`.")]
        /// Pair it with [`Driver::shutdown_signal`](crate::Driver::shutdown_signal) if the driver
        /// may shut down while you wait.
        #[doc(alias = "C")]
        pub fn receiver(&self) -> &crossbeam_channel::Receiver<std::time::Instant> {
            self.core.receiver()
        }

        /// The driver this runs on.
        pub fn driver(&self) -> &crate::Driver {
            self.core.driver()
        }
    };
}
pub(crate) use channel_receive_methods;
