//! Shared helpers: the two `get` faces, and a manual driver on a fake clock.

#![allow(dead_code, reason = "each test binary uses a subset")]

use std::hash::Hash;
use std::time::Duration;

use timer_wheel::{Driver, FakeClock};
use workqueue::{Lease, Queue};

/// An item type the queue accepts.
pub(crate) trait Item: Clone + Eq + Hash + Send + 'static {}
impl<T: Clone + Eq + Hash + Send + 'static> Item for T {}

/// One way to take an item: every behaviour test runs against each face (STYLE 15).
pub(crate) trait Face {
    /// The blocking-or-awaiting `get`.
    fn get<T: Item>(queue: &Queue<T>) -> Option<Lease<'_, T>>;
}

/// `Queue::get` on the calling thread.
pub(crate) struct Blocking;

impl Face for Blocking {
    fn get<T: Item>(queue: &Queue<T>) -> Option<Lease<'_, T>> {
        queue.get()
    }
}

/// `Queue::get_async` driven to completion on a current-thread tokio runtime.
#[cfg(feature = "async")]
pub(crate) struct Async;

#[cfg(feature = "async")]
impl Face for Async {
    fn get<T: Item>(queue: &Queue<T>) -> Option<Lease<'_, T>> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(queue.get_async())
    }
}

/// Instantiates each listed generic test body once per face.
#[macro_export]
macro_rules! per_face {
    ($($name:ident),* $(,)?) => {
        mod blocking {
            $(#[test] fn $name() { super::$name::<$crate::common::Blocking>(); })*
        }
        #[cfg(feature = "async")]
        mod async_face {
            $(#[test] fn $name() { super::$name::<$crate::common::Async>(); })*
        }
    };
}

/// A fake clock and a manual driver on it.
pub(crate) fn manual() -> (FakeClock, Driver) {
    let clock = FakeClock::new();
    let driver = Driver::builder()
        .clock(clock.clone())
        .manual()
        .expect("manual driver");
    (clock, driver)
}

/// Moves the fake clock and fires what is due.
pub(crate) fn step(clock: &FakeClock, driver: &Driver, by: Duration) {
    clock.advance(by);
    driver.turn();
}

/// Everything currently queued, in order, each marked done at once.
pub(crate) fn drain_now<T: Item>(queue: &Queue<T>) -> Vec<T> {
    std::iter::from_fn(|| queue.try_get().map(|lease| lease.item().clone())).collect()
}
