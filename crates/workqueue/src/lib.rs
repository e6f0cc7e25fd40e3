//! client-go's workqueue for Rust: the queue behind Kubernetes controllers.
//!
//! Three layers, each a superset of the one before (and dereferencing to it):
//!
//! * [`Queue`]: FIFO with de-duplication. An item is queued at most once, never held by two
//!   workers at once, and queued again after `done` if it was added while being processed.
//!   [`get`](Queue::get) returns a [`Lease`] whose drop is `done`.
//! * [`DelayingQueue`]: adds [`add_after`](DelayingQueue::add_after) (earliest deadline wins) and
//!   [`cancel_after`](DelayingQueue::cancel_after), on a `timer-wheel` driver: no thread per item.
//! * [`RateLimitingQueue`]: adds [`add_rate_limited`](RateLimitingQueue::add_rate_limited),
//!   [`forget`](RateLimitingQueue::forget) and [`num_requeues`](RateLimitingQueue::num_requeues)
//!   over any [`RateLimiter`](limiter::RateLimiter) (all of client-go's are in [`limiter`]).
//!
//! Everything time-based reads a [`timer_wheel::Clock`], so tests use a
//! [`FakeClock`](timer_wheel::FakeClock) and a manual driver and never sleep. Metrics go through
//! a small [`MetricsProvider`](metrics::MetricsProvider) trait.
//!
//! Deliberate differences from client-go: a stray `done` is ignored instead of duplicating the
//! item (WQ-14); `shut_down_with_drain` waits for queued *and* in-flight items and wakes every
//! waiter (WQ-13, WQ-18); shutdown drops pending delays at once (DL-10); limiter
//! misconfigurations are construction errors (RL-8); rate-limited failures are counted per
//! attempt. An `add` after shutdown is ignored, as in client-go.
//!
//! # Examples
//! A controller's worker loop:
//! ```
//! use std::time::Duration;
//! use timer_wheel::{Driver, FakeClock};
//! use workqueue::limiter::default_controller;
//! use workqueue::{QueueConfig, RateLimitingQueue};
//!
//! let clock = FakeClock::new();
//! let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
//! let config = QueueConfig::new().name("pods").driver(driver.clone());
//! let queue = RateLimitingQueue::with_config(config, default_controller(driver.clock().clone()))?;
//!
//! queue.add("default/web-0");
//! let mut attempts = 0;
//! while attempts < 3 {
//!     let Some(key) = queue.try_get() else {
//!         clock.advance(Duration::from_millis(100)); // let the retry come due
//!         driver.turn();
//!         continue;
//!     };
//!     attempts += 1;
//!     if attempts < 3 {
//!         queue.add_rate_limited(key.clone()); // failed: retry with backoff
//!     } else {
//!         queue.forget(&key); // succeeded: reset the backoff
//!     }
//! }
//! assert_eq!(queue.num_requeues(&"default/web-0"), 0);
//! queue.shut_down_with_drain();
//! # Ok::<(), workqueue::Error>(())
//! ```
//!
//! # Features
//! * `async`: [`Queue::get_async`] and [`Queue::shut_down_with_drain_async`] for tokio tasks, on
//!   the same queue as the blocking methods.
//! * `prometheus`: [`prometheus::PrometheusMetrics`], the seven client-go metrics in a
//!   `prometheus::Registry`.
//!
//! # Model checking
//! The wake-up protocol of `get`, `done` and the shutdowns is checked with loom:
//! `RUSTFLAGS="--cfg loom" cargo test -p workqueue --release --test loom`.
#![forbid(unsafe_code)]

mod config;
mod delaying;
mod error;
mod lease;
pub mod limiter;
pub mod metrics;
#[cfg(feature = "prometheus")]
pub mod prometheus;
mod queue;
mod rate_limiting;
mod sync;

pub use config::QueueConfig;
pub use delaying::DelayingQueue;
pub use error::Error;
pub use lease::Lease;
pub use queue::Queue;
pub use rate_limiting::RateLimitingQueue;
