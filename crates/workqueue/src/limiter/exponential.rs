//! [`ItemExponentialFailure`]: per-item exponential backoff (RL-5, RL-6).

use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use hashbrown::HashMap;
use parking_lot::Mutex;

use super::RateLimiter;
use crate::error::Error;

/// Waits `base · 2^n` for an item's `n`-th failure (counting from 0), capped at `max`.
///
/// With the defaults (5 ms, 1000 s): 5, 10, 20, 40 ms, …, 655.36 s on the 18th failure, and
/// 1000 s from the 19th on. The power is computed in floating point, so any failure count is safe
/// (RL-5).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use workqueue::limiter::{ItemExponentialFailure, RateLimiter};
///
/// let limiter = ItemExponentialFailure::new(Duration::from_millis(1), Duration::from_millis(3))?;
/// assert_eq!(limiter.when(&"x"), Duration::from_millis(1));
/// assert_eq!(limiter.when(&"x"), Duration::from_millis(2));
/// assert_eq!(limiter.when(&"x"), Duration::from_millis(3)); // capped
/// limiter.forget(&"x");
/// assert_eq!(limiter.num_requeues(&"x"), 0);
/// # Ok::<(), workqueue::Error>(())
/// ```
#[doc(alias = "ItemExponentialFailureRateLimiter")]
pub struct ItemExponentialFailure<T> {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<T, u32>>,
}

/// client-go's controller default first delay.
pub const DEFAULT_BASE: Duration = Duration::from_millis(5);

/// client-go's default cap: 1000 s, about 17 minutes.
pub const DEFAULT_MAX: Duration = Duration::from_secs(1000);

impl<T: Eq + Hash> ItemExponentialFailure<T> {
    /// A backoff from `base` doubling up to `max`.
    ///
    /// # Errors
    /// [`Error::BaseAboveMax`] if `base > max`.
    pub fn new(base: Duration, max: Duration) -> Result<Self, Error> {
        if base > max {
            return Err(Error::BaseAboveMax { base, max });
        }
        Ok(ItemExponentialFailure {
            base,
            max,
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// The first delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }
}

/// `base · 2^failures`, capped at `max` (and at `i64::MAX` nanoseconds, like client-go).
pub(crate) fn backoff(base: Duration, max: Duration, failures: u32) -> Duration {
    if base.is_zero() {
        return Duration::ZERO;
    }
    let exp = i32::try_from(failures).unwrap_or(i32::MAX);
    let nanos = base.as_nanos() as f64 * 2f64.powi(exp);
    if !nanos.is_finite() || nanos > i64::MAX as f64 || nanos >= max.as_nanos() as f64 {
        return max;
    }
    Duration::from_nanos(nanos as u64)
}

impl<T: Eq + Hash> Default for ItemExponentialFailure<T> {
    /// client-go's controller defaults: 5 ms doubling to 1000 s.
    fn default() -> Self {
        Self::new(DEFAULT_BASE, DEFAULT_MAX).expect("defaults are valid")
    }
}

impl<T: Clone + Eq + Hash + Send> RateLimiter<T> for ItemExponentialFailure<T> {
    fn when(&self, item: &T) -> Duration {
        let failures = {
            let mut map = self.failures.lock();
            match map.get_mut(item) {
                Some(n) => {
                    let before = *n;
                    *n = n.saturating_add(1);
                    before
                }
                None => {
                    map.insert(item.clone(), 1);
                    0
                }
            }
        };
        backoff(self.base, self.max, failures)
    }

    fn forget(&self, item: &T) {
        self.failures.lock().remove(item);
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.failures.lock().get(item).copied().unwrap_or(0)
    }
}

impl<T> fmt::Debug for ItemExponentialFailure<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemExponentialFailure")
            .field("base", &self.base)
            .field("max", &self.max)
            .field("items", &self.failures.lock().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_cap_and_overflow() {
        // spec: RL-5
        let ms = Duration::from_millis;
        let (base, max) = (ms(5), Duration::from_secs(1000));
        assert_eq!(backoff(base, max, 0), ms(5));
        assert_eq!(backoff(base, max, 3), ms(40));
        assert_eq!(backoff(base, max, 17), ms(655_360));
        assert_eq!(backoff(base, max, 18), max);
        assert_eq!(backoff(base, max, u32::MAX), max);
        assert_eq!(backoff(Duration::ZERO, max, u32::MAX), Duration::ZERO);
    }
}
