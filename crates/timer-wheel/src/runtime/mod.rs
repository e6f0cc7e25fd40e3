//! The runtime timers: a [`Driver`] that moves sharded wheels with a [`Clock`](crate::Clock),
//! and the Go-style faces built on it: [`Timer`], [`Ticker`] and [`after_func`](crate::after_func).

mod after_func;
mod driver;
mod entry;
mod receive;
mod ticker;
mod timer;

pub use after_func::{AfterFunc, after_func};
pub use driver::{Driver, DriverBuilder};
pub use ticker::Ticker;
pub use timer::Timer;
