//! [`MaxOf`]: the longest wait of several limiters (RL-10).

use std::fmt;
use std::time::Duration;

use super::RateLimiter;
use crate::error::Error;

/// Asks every limiter (each records its failure or takes its token) and waits the longest.
///
/// `num_requeues` is the largest count among them; `forget` goes to all. Combining a per-item
/// limiter with a [`Bucket`](super::Bucket) can seem to exceed the bucket's burst: the per-item
/// delays spread some adds out, so the bucket sees them later.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use workqueue::limiter::{ItemExponentialFailure, ItemFastSlow, MaxOf, RateLimiter};
///
/// let limiter = MaxOf::new(vec![
///     Box::new(ItemFastSlow::new(Duration::from_millis(1), Duration::from_secs(1), 1)),
///     Box::new(ItemExponentialFailure::new(Duration::from_millis(4), Duration::from_secs(9))?),
/// ])?;
/// assert_eq!(limiter.when(&"x"), Duration::from_millis(4));
/// assert_eq!(limiter.when(&"x"), Duration::from_secs(1));
/// # Ok::<(), workqueue::Error>(())
/// ```
#[doc(alias = "MaxOfRateLimiter", alias = "TypedMaxOfRateLimiter")]
pub struct MaxOf<T> {
    limiters: Vec<Box<dyn RateLimiter<T>>>,
}

impl<T> MaxOf<T> {
    /// The max of `limiters`.
    ///
    /// # Errors
    /// [`Error::NoLimiters`] if `limiters` is empty.
    pub fn new(limiters: Vec<Box<dyn RateLimiter<T>>>) -> Result<Self, Error> {
        if limiters.is_empty() {
            return Err(Error::NoLimiters);
        }
        Ok(MaxOf { limiters })
    }
}

impl<T> RateLimiter<T> for MaxOf<T> {
    fn when(&self, item: &T) -> Duration {
        // Every limiter is asked, even after the longest is known: each records its side effect.
        self.limiters
            .iter()
            .map(|limiter| limiter.when(item))
            .fold(Duration::ZERO, Duration::max)
    }

    fn forget(&self, item: &T) {
        for limiter in &self.limiters {
            limiter.forget(item);
        }
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.limiters
            .iter()
            .map(|limiter| limiter.num_requeues(item))
            .max()
            .unwrap_or(0)
    }
}

impl<T> fmt::Debug for MaxOf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxOf")
            .field("limiters", &self.limiters.len())
            .finish()
    }
}
