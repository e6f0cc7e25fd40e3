//! A hierarchical hashed timing wheel, clocks, and Go-style timers.
//!
//! Three layers, each usable alone:
//!
//! * [`Wheel`]: the data structure, over virtual time in ticks. O(1) insert, cancel and reset;
//!   entries come out in deadline order and exactly on their tick; no allocation in steady state.
//! * [`Clock`]: where time comes from. [`RealClock`] in production, [`FakeClock`] in tests, so
//!   nothing time-based is ever tested by sleeping.
//! * [`Driver`], [`Timer`], [`Ticker`], [`after_func`]: Go's timers over sharded wheels moved by
//!   a clock, with Go 1.23's guarantee that no stale value is received after `stop` or `reset`.
//!
//! # Examples
//! The raw wheel:
//! ```
//! use timer_wheel::Wheel;
//!
//! let mut wheel = Wheel::new();
//! wheel.insert(10, "ten");
//! let two = wheel.insert(2, "two");
//! wheel.reset(two, 12);
//! assert_eq!(wheel.advance(11).collect::<Vec<_>>(), vec![(10, "ten")]);
//! assert_eq!(wheel.next_deadline(), Some(12));
//! ```
//!
//! A [`Timer`], a [`Ticker`] and [`after_func`] on the global driver:
//! ```
//! use std::time::Duration;
//! use timer_wheel::{Ticker, Timer, after_func};
//!
//! let timer = Timer::new(Duration::from_millis(2));
//! timer.recv().unwrap();
//!
//! let ticker = Ticker::new(Duration::from_millis(1)).unwrap();
//! ticker.recv().unwrap();
//! ticker.recv().unwrap();
//!
//! let (tx, rx) = crossbeam_channel::bounded(1);
//! after_func(Duration::from_millis(1), move || {
//!     let _ = tx.try_send(());
//! });
//! rx.recv().unwrap();
//! ```
//!
//! A driver on a fake clock, moved by the test:
//! ```
//! use std::time::Duration;
//! use timer_wheel::{Driver, FakeClock};
//!
//! let clock = FakeClock::new();
//! let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
//! let ticker = driver.ticker(Duration::from_secs(1)).unwrap();
//! clock.advance(Duration::from_secs(3));
//! driver.turn();
//! // A slow reader finds one tick, not three.
//! assert!(ticker.try_recv().is_ok());
//! assert!(ticker.try_recv().is_err());
//! ```
//!
//! # Features
//! * `async`: `recv_async` on [`Timer`] and [`Ticker`], for tokio tasks or any executor.
#![forbid(unsafe_code)]

mod clock;
mod error;
mod runtime;
mod wheel;

pub use clock::{Clock, FakeClock, Parker, RealClock, SharedClock};
pub use error::{Error, RecvError, RecvTimeoutError, TryRecvError};
pub use runtime::{AfterFunc, Driver, DriverBuilder, Ticker, Timer, after_func};
pub use wheel::{Advance, Handle, Wheel};
