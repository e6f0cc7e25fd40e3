//! The loop around the single steps: [`LeaderElector::run`] and
//! [`LeaderElector::run_while_leading`].
//!
//! While leading, the loop renews every `retry_period` and wakes at the term's deadline to end
//! it if no renewal succeeded (even while a renewal request hangs: the deadline races the
//! request). While following, it retries every jittered `retry_period`, or sooner when the
//! lease it saw expires. On shutdown it ends the term and, if configured, releases the lease.

use std::future::Future;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::elector::LeaderElector;
use crate::error::{Error, Result};

impl LeaderElector {
    /// Runs the election until `shutdown` is cancelled: acquire, renew, retry, end a term at its
    /// deadline. Then ends the current term and, unless
    /// [`release_on_cancel(false)`](crate::LeaderElectorBuilder::release_on_cancel), releases
    /// the lease. API errors are logged and retried, never returned.
    ///
    /// Call it once per elector (attempts are serialised, but two loops would renew twice).
    ///
    /// # Errors
    ///
    /// [`Error::DriverShutDown`] if the timer driver shuts down; [`Error::Api`] if the final
    /// release failed (the lease then expires as after a crash).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future ends nothing by itself: the term stays open until its deadline (as
    /// after a crash, but [`is_leader`](Self::is_leader) still turns false then). Cancel
    /// `shutdown` for a graceful stop.
    #[doc(alias = "Run")]
    pub async fn run(&self, shutdown: CancellationToken) -> Result<()> {
        self.elect(&shutdown).await?;
        if self.inner.release_on_cancel {
            self.release().await?;
        }
        Ok(())
    }

    /// Runs the election and, during each term, `work(token)`; `token` is cancelled when the
    /// term ends and `work` must then return. On shutdown, the term ends, this waits for `work`
    /// to return and only then releases the lease, so the successor never overlaps with it.
    ///
    /// This is the warm-standby pattern: informers run all along (outside `work`), and a new
    /// leader's `work` starts from a full cache.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use fake_apiserver::FakeApiServer;
    /// use leader_election::{CancellationToken, LeaderElector};
    ///
    /// let server = FakeApiServer::builder().start().await?;
    /// let elector = LeaderElector::builder(server.client(), "default", "demo")
    ///     .identity("replica-a")
    ///     .build()?;
    /// let shutdown = CancellationToken::new();
    /// let terms = Arc::new(AtomicUsize::new(0));
    /// let counted = Arc::clone(&terms);
    /// let stop = shutdown.clone();
    /// elector
    ///     .run_while_leading(shutdown, move |token| {
    ///         let counted = Arc::clone(&counted);
    ///         let stop = stop.clone();
    ///         async move {
    ///             counted.fetch_add(1, Ordering::SeqCst);
    ///             stop.cancel(); // a real controller would reconcile until `token` is cancelled
    ///             token.cancelled().await;
    ///         }
    ///     })
    ///     .await?;
    /// assert_eq!(terms.load(Ordering::SeqCst), 1);
    /// assert!(!elector.is_leader());
    /// server.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run_while_leading<F, Fut>(
        &self,
        shutdown: CancellationToken,
        mut work: F,
    ) -> Result<()>
    where
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut status = self.subscribe();
        let works = async {
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    changed = status.wait_for(|s| s.leading) => {
                        if changed.is_err() {
                            break;
                        }
                    }
                }
                if let Some(token) = self.leading_token() {
                    work(token.clone()).await;
                    // A term ends with its token; wait for that before looking again.
                    token.cancelled().await;
                } else {
                    // Leading flag seen but the term already ended: wait for the next change.
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        _ = status.changed() => {}
                    }
                }
            }
        };
        let (elected, ()) = tokio::join!(self.elect(&shutdown), works);
        elected?;
        if self.inner.release_on_cancel {
            self.release().await?;
        }
        Ok(())
    }

    /// The loop without the final release; ends the term on shutdown.
    async fn elect(&self, shutdown: &CancellationToken) -> Result<()> {
        let clock = self.clock().clone();
        let timings = self.timings();
        let outcome = loop {
            if shutdown.is_cancelled() {
                break Ok(());
            }
            self.set_next_wake(None);
            let deadline = self.deadline();
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break Ok(()),
                attempt = self.try_acquire_or_renew() => {
                    if let Err(error) = attempt {
                        tracing::warn!(lease = %self.lease(), identity = %self.identity(), %error, "leader election attempt failed");
                    }
                }
                woke = self.sleep_until(deadline, false), if deadline.is_some() => {
                    if let Err(e) = woke {
                        break Err(e);
                    }
                    // The request did not come back in time: the term ends now.
                    self.expire_if_due();
                }
            }
            let now = clock.now();
            let next = if self.is_leader() {
                now + timings.retry_period
            } else {
                let retry = now + timings.jittered_retry();
                match self.candidate_expiry() {
                    Some(expiry) if expiry > now && expiry < retry => expiry,
                    _ => retry,
                }
            };
            let wake = self.deadline().map_or(next, |d| d.min(next));
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break Ok(()),
                woke = self.sleep_until(Some(wake), true) => {
                    if let Err(e) = woke {
                        break Err(e);
                    }
                }
            }
            self.expire_if_due();
        };
        self.set_next_wake(None);
        self.stop_leading();
        outcome
    }

    /// Waits on the driver until `at` (at once if it has passed; forever if `None`). With
    /// `publish`, the wake-up time appears in [`Status::next_wake`](crate::Status::next_wake)
    /// once the timer is armed (not before: an observer that moves a fake clock when everybody
    /// sleeps must not move it between the reading of the time and the arming of the timer).
    async fn sleep_until(&self, at: Option<Instant>, publish: bool) -> Result<()> {
        let Some(at) = at else {
            return std::future::pending().await;
        };
        let delay = at.saturating_duration_since(self.clock().now());
        if delay.is_zero() {
            return Ok(());
        }
        let timer = self.inner.driver.timer(delay);
        if publish {
            self.set_next_wake(Some(at));
        }
        timer
            .recv_async()
            .await
            .map(|_| ())
            .map_err(|_| Error::DriverShutDown {
                lease: self.lease(),
            })
    }
}
