//! Rate limiters: how long an item waits before its next try (RL-5..RL-11).
//!
//! | limiter | client-go | per item? |
//! |---|---|---|
//! | [`ItemExponentialFailure`] | `ItemExponentialFailureRateLimiter` | yes: `base · 2^failures`, capped |
//! | [`ItemFastSlow`] | `ItemFastSlowRateLimiter` | yes: `fast` for the first tries, then `slow` |
//! | [`Bucket`] | `BucketRateLimiter` | no: one token bucket for all items |
//! | [`MaxOf`] | `MaxOfRateLimiter` | the longest wait of several |
//! | [`WithMaxWait`] | `WithMaxWaitRateLimiter` | caps another limiter's wait |
//! | [`default_controller`] | `DefaultControllerRateLimiter` | exponential (5 ms, 1000 s) and bucket (10 qps, 100) |

mod bucket;
mod exponential;
mod fast_slow;
mod max_of;
mod max_wait;

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use timer_wheel::SharedClock;

pub use bucket::{Bucket, DEFAULT_BURST, DEFAULT_RATE};
pub use exponential::{DEFAULT_BASE, DEFAULT_MAX, ItemExponentialFailure};
pub use fast_slow::ItemFastSlow;
pub use max_of::MaxOf;
pub use max_wait::WithMaxWait;

use crate::error::Error;

/// Decides how long an item waits before it is retried.
///
/// Implementations are shared between threads and keep their own state behind their own lock;
/// the queue never calls them under its lock.
#[doc(alias = "TypedRateLimiter")]
pub trait RateLimiter<T>: Send + Sync {
    /// How long `item` should wait now. Calling it records a failure (for per-item limiters) or
    /// takes a token (for buckets).
    #[doc(alias = "When")]
    fn when(&self, item: &T) -> Duration;

    /// Forgets `item`'s failures: it is retried without waiting next time it fails.
    #[doc(alias = "Forget")]
    fn forget(&self, item: &T);

    /// How many failures are recorded for `item`.
    #[doc(alias = "NumRequeues")]
    fn num_requeues(&self, item: &T) -> u32;
}

impl<T, L: RateLimiter<T> + ?Sized> RateLimiter<T> for Arc<L> {
    fn when(&self, item: &T) -> Duration {
        (**self).when(item)
    }
    fn forget(&self, item: &T) {
        (**self).forget(item)
    }
    fn num_requeues(&self, item: &T) -> u32 {
        (**self).num_requeues(item)
    }
}

impl<T, L: RateLimiter<T> + ?Sized> RateLimiter<T> for Box<L> {
    fn when(&self, item: &T) -> Duration {
        (**self).when(item)
    }
    fn forget(&self, item: &T) {
        (**self).forget(item)
    }
    fn num_requeues(&self, item: &T) -> u32 {
        (**self).num_requeues(item)
    }
}

/// client-go's default for controllers: the longest of a per-item exponential backoff from
/// 5 ms to 1000 s and a global token bucket of 10 per second with a burst of 100.
///
/// The bucket makes mass retries wait: 10,000 items failing at once put the last one about
/// 990 s out ([kubernetes#104554](https://github.com/kubernetes/kubernetes/issues/104554)); wrap
/// it in [`WithMaxWait`] (see [`default_controller_with_max_wait`]) to bound that.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use timer_wheel::FakeClock;
/// use workqueue::limiter::{RateLimiter, default_controller};
///
/// let limiter = default_controller(Arc::new(FakeClock::new()));
/// assert_eq!(limiter.when(&"a"), Duration::from_millis(5));
/// assert_eq!(limiter.when(&"a"), Duration::from_millis(10));
/// assert_eq!(limiter.num_requeues(&"a"), 2);
/// ```
#[doc(
    alias = "DefaultControllerRateLimiter",
    alias = "DefaultTypedControllerRateLimiter"
)]
pub fn default_controller<T: Clone + Eq + Hash + Send + 'static>(clock: SharedClock) -> MaxOf<T> {
    MaxOf::new(vec![
        Box::new(ItemExponentialFailure::default()),
        Box::new(Bucket::default_with_clock(clock)),
    ])
    .expect("two limiters")
}

/// [`default_controller`] with every wait capped at `max_wait` (RL-11).
///
/// # Errors
/// None today; the `Result` leaves room for validating `max_wait`.
pub fn default_controller_with_max_wait<T: Clone + Eq + Hash + Send + 'static>(
    clock: SharedClock,
    max_wait: Duration,
) -> Result<WithMaxWait<T>, Error> {
    Ok(WithMaxWait::new(
        Box::new(default_controller(clock)),
        max_wait,
    ))
}
