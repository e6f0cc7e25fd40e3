//! [`HasSynced`] and [`wait_for_cache_sync`]: waiting, without polling, until informers and
//! handler registrations have synced (SI-15..SI-17), with a timeout that reports why.

use std::pin::pin;
use std::time::Duration;

use futures::future::{BoxFuture, Either, join_all, select};
use timer_wheel::Driver;

use crate::processor::HandlerRegistration;
use crate::reflector::ReflectorError;

/// Something that syncs once: an informer (its initial list is in the cache) or a handler
/// registration (it has also handled its initial adds).
pub trait HasSynced: Send + Sync {
    /// Whether it has synced. Latched: never turns false again.
    fn has_synced(&self) -> bool;

    /// A future that completes with `true` once it has synced, or `false` once it never will
    /// (it was stopped or removed first). Never polls.
    fn wait_synced(&self) -> BoxFuture<'static, bool>;

    /// A short name for errors and logs.
    fn sync_name(&self) -> String;

    /// The last list or watch error seen while syncing, if any (an informer's reflector error;
    /// `None` for a handler registration).
    fn last_sync_error(&self) -> Option<ReflectorError> {
        None
    }
}

impl<K: Send + Sync + 'static> HasSynced for HandlerRegistration<K> {
    fn has_synced(&self) -> bool {
        HandlerRegistration::has_synced(self)
    }

    fn wait_synced(&self) -> BoxFuture<'static, bool> {
        Box::pin(self.synced_async())
    }

    fn sync_name(&self) -> String {
        format!("handler {}", self.name())
    }
}

/// Why [`wait_for_cache_sync`] gave up.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheSyncError {
    /// The timeout passed first. The cause is the last list or watch error of the first
    /// informer that had not synced, if it had one.
    #[error("caches not synced after {timeout:?}: {}", pending.join(", "))]
    Timeout {
        /// The timeout.
        timeout: Duration,
        /// The names of those that had not synced.
        pending: Vec<String>,
        /// The last list or watch error of the first one that had not synced.
        #[source]
        last_error: Option<Box<ReflectorError>>,
    },
    /// One of them was stopped (or removed) before it synced; it never will.
    #[error("{name} stopped before it synced")]
    Stopped {
        /// Its name.
        name: String,
        /// Its last list or watch error.
        #[source]
        last_error: Option<Box<ReflectorError>>,
    },
    /// The timer driver shut down, so the timeout could not be waited for.
    #[error("the timer driver shut down")]
    DriverShutdown,
}

/// Blocks until every one of `checks` has synced, for at most `timeout` on the real clock
/// (the global timer-wheel driver). client-go's `WaitForCacheSync`, with a timeout instead of
/// a stop channel and a reason on failure (SI-17). Never polls. Do not call it from an async
/// task: use [`wait_for_cache_sync_async`].
///
/// # Errors
///
/// [`CacheSyncError::Timeout`] (carrying the last watch error as its cause) or
/// [`CacheSyncError::Stopped`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use informer::wait_for_cache_sync;
///
/// // Nothing to wait for.
/// wait_for_cache_sync(Duration::from_secs(1), &[])?;
/// # Ok::<(), informer::CacheSyncError>(())
/// ```
#[doc(alias = "WaitForCacheSync")]
pub fn wait_for_cache_sync(
    timeout: Duration,
    checks: &[&dyn HasSynced],
) -> Result<(), CacheSyncError> {
    futures::executor::block_on(wait_for_cache_sync_on(Driver::global(), timeout, checks))
}

/// [`wait_for_cache_sync`] as a future, on the real clock.
///
/// # Errors
///
/// As [`wait_for_cache_sync`].
///
/// # Cancel safety
///
/// Cancel safe: it only waits.
pub async fn wait_for_cache_sync_async(
    timeout: Duration,
    checks: &[&dyn HasSynced],
) -> Result<(), CacheSyncError> {
    wait_for_cache_sync_on(Driver::global(), timeout, checks).await
}

/// [`wait_for_cache_sync`] as a future whose timeout runs on `driver` (a test passes a
/// driver on a fake clock and moves time itself).
///
/// # Errors
///
/// As [`wait_for_cache_sync`]; [`CacheSyncError::DriverShutdown`] if the driver shut down
/// while waiting.
///
/// # Cancel safety
///
/// Cancel safe: it only waits.
pub async fn wait_for_cache_sync_on(
    driver: &Driver,
    timeout: Duration,
    checks: &[&dyn HasSynced],
) -> Result<(), CacheSyncError> {
    if checks.iter().all(|c| c.has_synced()) {
        return Ok(());
    }
    let waits = join_all(checks.iter().map(|c| c.wait_synced()));
    let timer = driver.timer(timeout);
    let outcome = match select(waits, pin!(timer.recv_async())).await {
        Either::Left((results, _)) => Either::Left(results),
        Either::Right((fired, _)) => Either::Right(fired.is_ok()),
    };
    timer.stop();
    match outcome {
        Either::Left(results) => match results.iter().position(|synced| !synced) {
            None => Ok(()),
            Some(i) => Err(CacheSyncError::Stopped {
                name: checks[i].sync_name(),
                last_error: checks[i].last_sync_error().map(Box::new),
            }),
        },
        Either::Right(fired) => {
            let pending: Vec<&dyn HasSynced> =
                checks.iter().copied().filter(|c| !c.has_synced()).collect();
            if pending.is_empty() {
                return Ok(());
            }
            if !fired {
                return Err(CacheSyncError::DriverShutdown);
            }
            Err(CacheSyncError::Timeout {
                timeout,
                pending: pending.iter().map(|c| c.sync_name()).collect(),
                last_error: pending
                    .iter()
                    .find_map(|c| c.last_sync_error())
                    .map(Box::new),
            })
        }
    }
}
