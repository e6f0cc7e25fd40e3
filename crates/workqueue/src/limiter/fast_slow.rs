//! [`ItemFastSlow`]: a few quick retries, then slow ones (RL-7).

use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use hashbrown::HashMap;
use parking_lot::Mutex;

use super::RateLimiter;

/// Waits `fast` for an item's first `max_fast_attempts` failures, then `slow`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use workqueue::limiter::{ItemFastSlow, RateLimiter};
///
/// let limiter = ItemFastSlow::new(Duration::from_millis(5), Duration::from_secs(10), 2);
/// assert_eq!(limiter.when(&"x"), Duration::from_millis(5));
/// assert_eq!(limiter.when(&"x"), Duration::from_millis(5));
/// assert_eq!(limiter.when(&"x"), Duration::from_secs(10));
/// ```
#[doc(alias = "ItemFastSlowRateLimiter")]
pub struct ItemFastSlow<T> {
    fast: Duration,
    slow: Duration,
    max_fast_attempts: u32,
    attempts: Mutex<HashMap<T, u32>>,
}

impl<T: Eq + Hash> ItemFastSlow<T> {
    /// `fast` while an item has failed at most `max_fast_attempts` times, `slow` after.
    pub fn new(fast: Duration, slow: Duration, max_fast_attempts: u32) -> Self {
        ItemFastSlow {
            fast,
            slow,
            max_fast_attempts,
            attempts: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone + Eq + Hash + Send> RateLimiter<T> for ItemFastSlow<T> {
    fn when(&self, item: &T) -> Duration {
        let count = {
            let mut map = self.attempts.lock();
            match map.get_mut(item) {
                Some(n) => {
                    *n = n.saturating_add(1);
                    *n
                }
                None => {
                    map.insert(item.clone(), 1);
                    1
                }
            }
        };
        // The count includes this failure: `count == max_fast_attempts` is still fast.
        if count <= self.max_fast_attempts {
            self.fast
        } else {
            self.slow
        }
    }

    fn forget(&self, item: &T) {
        self.attempts.lock().remove(item);
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.attempts.lock().get(item).copied().unwrap_or(0)
    }
}

impl<T> fmt::Debug for ItemFastSlow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemFastSlow")
            .field("fast", &self.fast)
            .field("slow", &self.slow)
            .field("max_fast_attempts", &self.max_fast_attempts)
            .finish_non_exhaustive()
    }
}
