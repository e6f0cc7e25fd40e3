//! Shared helpers of the controller's test binaries: a manual driver on a fake clock, and how
//! long a test waits before it calls something lost.

#![allow(dead_code, reason = "each test binary uses a subset")]

use std::time::Duration;

use timer_wheel::{Driver, FakeClock};

/// Long enough never to trip on a loaded machine; only a failing test waits this long.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A fake clock and a manual driver on it: time moves only when the test says so.
pub(crate) fn fake() -> (FakeClock, Driver) {
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    (clock, driver)
}
