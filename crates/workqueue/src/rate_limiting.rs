//! [`RateLimitingQueue`]: a [`DelayingQueue`] that asks a [`RateLimiter`] how long to wait
//! (RL-1..RL-4).

use std::fmt;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::Arc;

use crate::config::QueueConfig;
use crate::delaying::{DelayingQueue, Wait, add_after_locked};
use crate::error::Error;
use crate::limiter::RateLimiter;

/// A [`DelayingQueue`] whose retries wait as long as a [`RateLimiter`] says. It dereferences to
/// the [`DelayingQueue`] (and through it to the [`Queue`](crate::Queue)).
///
/// **A failed item is never handed out later than client-go would hand it out** for the same
/// calls: each [`add_rate_limited`](RateLimitingQueue::add_rate_limited) either asks the limiter
/// and schedules the retry with the earlier deadline winning (as client-go's `AddRateLimited`
/// does), or finds the item already waiting for a retry the limiter counted and keeps that one.
///
/// Failures are counted per *attempt*, not per call: while an item waits for a rate-limited
/// retry, another `add_rate_limited` of it does not ask the limiter again (so it neither counts a
/// failure nor takes a bucket token) and keeps the pending retry. In client-go every call counts,
/// so a key re-triggered by unrelated events while it backs off sees its delay grow
/// super-exponentially ([kubernetes#132805](https://github.com/kubernetes/kubernetes/issues/132805)).
/// Only a pending *rate-limited* retry absorbs a call: an item that waits for a plain
/// [`add_after`](DelayingQueue::add_after) (a periodic re-check, say) is counted and gets the
/// limiter's backoff if that comes sooner, and [`forget`](RateLimitingQueue::forget) starts a new
/// failure history, so the next failure is counted and backed off afresh even while an old retry
/// is still pending.
///
/// The check and the limiter call happen in one critical section, under the queue's lock: two
/// threads failing one item at once count one failure and schedule one retry. The limiter is
/// therefore called with the queue's lock held, and must not call back into the queue.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use timer_wheel::{Driver, FakeClock};
/// use workqueue::limiter::default_controller;
/// use workqueue::{QueueConfig, RateLimitingQueue};
///
/// let clock = FakeClock::new();
/// let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
/// let limiter = default_controller(driver.clock().clone());
/// let queue = RateLimitingQueue::with_config(QueueConfig::new().driver(driver.clone()), limiter)?;
///
/// queue.add_rate_limited("key"); // first failure: 5 ms
/// assert_eq!(queue.num_requeues(&"key"), 1);
/// clock.advance(Duration::from_millis(5));
/// driver.turn();
/// let lease = queue.get().unwrap();
/// queue.forget(lease.item()); // success: reset the backoff
/// drop(lease);
/// assert_eq!(queue.num_requeues(&"key"), 0);
/// # Ok::<(), workqueue::Error>(())
/// ```
#[doc(alias = "RateLimitingInterface", alias = "TypedRateLimitingInterface")]
pub struct RateLimitingQueue<T> {
    delaying: DelayingQueue<T>,
    limiter: Arc<dyn RateLimiter<T>>,
}

impl<T: Clone + Eq + Hash + Send + 'static> RateLimitingQueue<T> {
    /// An unnamed queue on the global driver, limited by `limiter`.
    #[doc(alias = "NewRateLimitingQueue", alias = "NewTypedRateLimitingQueue")]
    pub fn new(limiter: impl RateLimiter<T> + 'static) -> Self {
        Self::with_config(QueueConfig::new(), limiter)
            .expect("an unnamed queue has no metrics to fail")
    }

    /// A queue built from `config`, limited by `limiter`.
    ///
    /// # Errors
    /// Only from the metrics provider of a named queue, such as [`Error::DuplicateName`].
    #[doc(
        alias = "NewRateLimitingQueueWithConfig",
        alias = "NewTypedRateLimitingQueueWithConfig"
    )]
    pub fn with_config(
        config: QueueConfig,
        limiter: impl RateLimiter<T> + 'static,
    ) -> Result<Self, Error> {
        Ok(RateLimitingQueue {
            delaying: DelayingQueue::with_config(config)?,
            limiter: Arc::new(limiter),
        })
    }

    /// Adds `item` after the wait the limiter gives it (RL-1); if it already waits, the earlier
    /// deadline wins. If it already waits for a rate-limited retry the limiter counted (and no
    /// [`forget`](Self::forget) came since), the call is that same failure's and changes nothing
    /// (see the type's docs).
    ///
    /// After shutdown the limiter is still asked (the failure is recorded) and the add ignored.
    #[doc(alias = "AddRateLimited")]
    pub fn add_rate_limited(&self, item: T) {
        let shared = &self.delaying.queue().shared;
        let mut state = shared.lock();
        if state
            .delays
            .as_ref()
            .is_some_and(|delays| delays.has_retry(&item))
        {
            return;
        }
        let delay = self.limiter.when(&item);
        add_after_locked(shared, &mut state, item, delay, Wait::Retry);
    }

    /// Clears `item`'s failure history in the limiter (RL-2). It does not remove the item from the
    /// queue or from the waiting items, and a leased item must still be finished. A retry still
    /// pending keeps its deadline, but no longer stands for the next failure: the next
    /// [`add_rate_limited`](Self::add_rate_limited) asks the limiter afresh.
    #[doc(alias = "Forget")]
    pub fn forget(&self, item: &T) {
        let mut state = self.delaying.queue().shared.lock();
        if let Some(delays) = state.delays.as_mut() {
            delays.unmark_retry_locked(item);
        }
        self.limiter.forget(item);
    }

    /// How many failures the limiter holds for `item` (RL-3).
    #[doc(alias = "NumRequeues")]
    pub fn num_requeues(&self, item: &T) -> u32 {
        self.limiter.num_requeues(item)
    }

    /// The limiter.
    pub fn limiter(&self) -> &Arc<dyn RateLimiter<T>> {
        &self.limiter
    }
}

impl<T> Deref for RateLimitingQueue<T> {
    type Target = DelayingQueue<T>;

    fn deref(&self) -> &DelayingQueue<T> {
        &self.delaying
    }
}

impl<T> Clone for RateLimitingQueue<T> {
    fn clone(&self) -> Self {
        RateLimitingQueue {
            delaying: self.delaying.clone(),
            limiter: Arc::clone(&self.limiter),
        }
    }
}

impl<T> fmt::Debug for RateLimitingQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitingQueue")
            .field("queue", &self.delaying)
            .finish_non_exhaustive()
    }
}
