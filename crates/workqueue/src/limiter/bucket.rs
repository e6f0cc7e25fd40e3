//! [`Bucket`]: one token bucket for every item (RL-8, RL-9).

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use timer_wheel::SharedClock;

use super::RateLimiter;
use crate::error::Error;

/// client-go's default rate: 10 retries per second overall.
pub const DEFAULT_RATE: f64 = 10.0;

/// client-go's default burst: 100 retries at once before the rate applies.
pub const DEFAULT_BURST: u32 = 100;

/// A token bucket shared by all items: each `when` reserves a token and returns how long until
/// it exists.
///
/// The bucket starts full (`burst` tokens) and refills at `rate` per second. Reservations are
/// never given back, so the balance can go negative: at one instant, with (10/s, 100), the first
/// 100 calls return 0, the 101st 100 ms, the 102nd 200 ms, and so on (RL-8). Not per item:
/// `num_requeues` is always 0 and `forget` does nothing (RL-9).
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use timer_wheel::FakeClock;
/// use workqueue::limiter::{Bucket, RateLimiter};
///
/// let clock = FakeClock::new();
/// let bucket = Bucket::new(10.0, 2, Arc::new(clock.clone()))?;
/// assert_eq!(bucket.when(&"a"), Duration::ZERO);
/// assert_eq!(bucket.when(&"b"), Duration::ZERO);
/// assert_eq!(bucket.when(&"c"), Duration::from_millis(100));
/// clock.advance(Duration::from_secs(1)); // refills, but not beyond the burst
/// assert_eq!(bucket.when(&"d"), Duration::ZERO);
/// # Ok::<(), workqueue::Error>(())
/// ```
#[doc(alias = "BucketRateLimiter", alias = "TypedBucketRateLimiter")]
pub struct Bucket<T> {
    /// Tokens per second; infinite means no limit.
    rate: f64,
    burst: f64,
    clock: SharedClock,
    state: Mutex<Tokens>,
    _items: PhantomData<fn(&T)>,
}

#[derive(Debug)]
struct Tokens {
    /// Balance at `at`; negative when reservations run ahead of the refill.
    balance: f64,
    at: Instant,
}

impl<T> Bucket<T> {
    /// A full bucket of `burst` tokens refilled at `rate` per second (`f64::INFINITY`: never
    /// waits).
    ///
    /// # Errors
    /// [`Error::ZeroBurst`] for a burst of 0 and [`Error::InvalidRate`] for a rate that is not
    /// positive, instead of client-go's 292-year waits.
    pub fn new(rate: f64, burst: u32, clock: SharedClock) -> Result<Self, Error> {
        if burst == 0 {
            return Err(Error::ZeroBurst);
        }
        if rate.is_nan() || rate <= 0.0 {
            return Err(Error::InvalidRate { rate });
        }
        let at = clock.now();
        Ok(Bucket {
            rate,
            burst: f64::from(burst),
            clock,
            state: Mutex::new(Tokens {
                balance: f64::from(burst),
                at,
            }),
            _items: PhantomData,
        })
    }

    /// client-go's default bucket (10 per second, burst 100) on `clock`.
    pub fn default_with_clock(clock: SharedClock) -> Self {
        Self::new(DEFAULT_RATE, DEFAULT_BURST, clock).expect("defaults are valid")
    }

    /// Reserves one token; returns the wait until it is there.
    fn reserve(&self) -> Duration {
        if self.rate.is_infinite() {
            return Duration::ZERO;
        }
        let now = self.clock.now();
        let mut tokens = self.state.lock();
        if now > tokens.at {
            let refill = (now - tokens.at).as_secs_f64() * self.rate;
            tokens.balance = (tokens.balance + refill).min(self.burst);
            tokens.at = now;
        }
        tokens.balance -= 1.0;
        if tokens.balance >= 0.0 {
            Duration::ZERO
        } else {
            wait_for(-tokens.balance, self.rate)
        }
    }
}

/// How long `rate` takes to refill `tokens`, as Go's `x/time/rate` computes it: the seconds, times
/// 10^9, truncated to whole nanoseconds (never rounded up), and capped at `i64::MAX` nanoseconds.
fn wait_for(tokens: f64, rate: f64) -> Duration {
    let nanos = tokens / rate * 1e9;
    if nanos >= i64::MAX as f64 {
        return Duration::from_nanos(i64::MAX as u64);
    }
    // `as` truncates toward zero (and maps NaN to 0), like Go's float-to-Duration conversion.
    Duration::from_nanos(nanos as u64)
}

impl<T> RateLimiter<T> for Bucket<T> {
    fn when(&self, _item: &T) -> Duration {
        self.reserve()
    }

    fn forget(&self, _item: &T) {}

    fn num_requeues(&self, _item: &T) -> u32 {
        0
    }
}

impl<T> fmt::Debug for Bucket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("tokens", &*self.state.lock())
            .finish()
    }
}
