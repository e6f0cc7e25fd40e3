//! [`WithMaxWait`]: caps another limiter's wait (RL-11).

use std::fmt;
use std::time::Duration;

use super::RateLimiter;

/// Waits what `inner` says, but never longer than `max_wait`; `forget` and `num_requeues` go to
/// `inner`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use workqueue::limiter::{ItemExponentialFailure, RateLimiter, WithMaxWait};
///
/// let inner = ItemExponentialFailure::new(Duration::from_secs(1), Duration::from_secs(100))?;
/// let limiter = WithMaxWait::new(Box::new(inner), Duration::from_secs(3));
/// assert_eq!(limiter.when(&"x"), Duration::from_secs(1));
/// assert_eq!(limiter.when(&"x"), Duration::from_secs(2));
/// assert_eq!(limiter.when(&"x"), Duration::from_secs(3));
/// assert_eq!(limiter.num_requeues(&"x"), 3);
/// # Ok::<(), workqueue::Error>(())
/// ```
#[doc(
    alias = "WithMaxWaitRateLimiter",
    alias = "TypedWithMaxWaitRateLimiter"
)]
pub struct WithMaxWait<T> {
    inner: Box<dyn RateLimiter<T>>,
    max_wait: Duration,
}

impl<T> WithMaxWait<T> {
    /// `inner`, capped at `max_wait`.
    pub fn new(inner: Box<dyn RateLimiter<T>>, max_wait: Duration) -> Self {
        WithMaxWait { inner, max_wait }
    }
}

impl<T> RateLimiter<T> for WithMaxWait<T> {
    fn when(&self, item: &T) -> Duration {
        self.inner.when(item).min(self.max_wait)
    }

    fn forget(&self, item: &T) {
        self.inner.forget(item);
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.inner.num_requeues(item)
    }
}

impl<T> fmt::Debug for WithMaxWait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithMaxWait")
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}
