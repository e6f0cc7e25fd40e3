//! [`RateLimitingQueue`]: a [`DelayingQueue`] that asks a [`RateLimiter`] how long to wait
//! (RL-1..RL-4).

use std::fmt;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::Arc;

use crate::config::QueueConfig;
use crate::delaying::DelayingQueue;
use crate::error::Error;
use crate::limiter::RateLimiter;

/// A [`DelayingQueue`] whose retries wait as long as a [`RateLimiter`] says. It dereferences to
/// the [`DelayingQueue`] (and through it to the [`Queue`](crate::Queue)).
///
/// Failures are counted per *attempt*, not per call: while an item waits for a rate-limited
/// retry, another [`add_rate_limited`](RateLimitingQueue::add_rate_limited) of it does not ask
/// the limiter again (so it neither counts a failure nor takes a bucket token) and keeps the
/// pending retry. In client-go every call counts, so a key re-triggered by unrelated events while
/// it backs off sees its delay grow super-exponentially
/// ([kubernetes#132805](https://github.com/kubernetes/kubernetes/issues/132805)).
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

    /// Adds `item` after the wait the limiter gives it (RL-1), unless it already waits for a
    /// rate-limited retry (see the type's docs).
    ///
    /// After shutdown the limiter is still asked (the failure is recorded) and the add ignored.
    #[doc(alias = "AddRateLimited")]
    pub fn add_rate_limited(&self, item: T) {
        if self.delaying.is_waiting(&item) {
            return;
        }
        let delay = self.limiter.when(&item);
        self.delaying.add_after(item, delay);
    }

    /// Clears `item`'s failure history in the limiter (RL-2). It does not remove the item from the
    /// queue or from the waiting items, and a leased item must still be finished.
    #[doc(alias = "Forget")]
    pub fn forget(&self, item: &T) {
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
