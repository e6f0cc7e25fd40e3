//! [`TimerShared`]: the state one runtime timer shares between its owner and the driver.
//!
//! # Ground rules
//! `handle`, `due_nanos` and `period_nanos` are read and written only while holding the lock of
//! shard `shard` (the atomics only make the type `Sync`; `Relaxed` is enough because the lock
//! orders every access). `handle` is the packed wheel handle while the timer is pending in that
//! shard's wheel and `NO_HANDLE` otherwise. Values reach a `Send` timer's channel only from
//! [`fire_locked`], under the same lock, which is how `stop` and `reset` can promise that no value
//! from before them is received afterwards (TW-13, TW-14).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::wheel::{Handle, NO_HANDLE, Wheel};

/// What firing does.
pub(crate) enum Action {
    /// Deliver the fire time on a one-slot channel with a non-blocking send (TW-12).
    Send {
        tx: Sender<Instant>,
        #[cfg(feature = "async")]
        waker: parking_lot::Mutex<Option<std::task::Waker>>,
    },
    /// Run a callback off the driver's loop (TW-15).
    Call(Arc<dyn Fn() + Send + Sync>),
}

/// One timer's shared state. See the module's ground rules.
pub(crate) struct TimerShared {
    pub(crate) shard: usize,
    handle: AtomicU64,
    /// When the timer is due, in nanoseconds since the driver's origin.
    due_nanos: AtomicU64,
    /// A ticker's period in nanoseconds; 0 for a one-shot timer.
    period_nanos: AtomicU64,
    pub(crate) action: Action,
}

/// Work that firing leaves for after the shard lock is released.
#[derive(Default)]
pub(crate) struct Fired {
    #[cfg(feature = "async")]
    pub(crate) wakers: Vec<std::task::Waker>,
    pub(crate) calls: Vec<Arc<dyn Fn() + Send + Sync>>,
}

impl TimerShared {
    pub(crate) fn new(shard: usize, action: Action) -> Self {
        TimerShared {
            shard,
            handle: AtomicU64::new(NO_HANDLE),
            due_nanos: AtomicU64::new(0),
            period_nanos: AtomicU64::new(0),
            action,
        }
    }

    /// The wheel handle while pending. Shard lock held.
    pub(crate) fn handle_locked(&self) -> Option<Handle> {
        Handle::unpack(self.handle.load(Relaxed))
    }

    /// Records (or clears) the wheel handle. Shard lock held.
    pub(crate) fn set_handle_locked(&self, handle: Option<Handle>) {
        self.handle
            .store(handle.map_or(NO_HANDLE, Handle::pack), Relaxed);
    }

    /// Records the nominal due time and period. Shard lock held.
    pub(crate) fn set_schedule_locked(&self, due_nanos: u64, period_nanos: u64) {
        self.due_nanos.store(due_nanos, Relaxed);
        self.period_nanos.store(period_nanos, Relaxed);
    }

    /// Remembers the task to wake when a value is delivered.
    #[cfg(feature = "async")]
    pub(crate) fn register_waker(&self, waker: &std::task::Waker) {
        if let Action::Send { waker: slot, .. } = &self.action {
            let mut slot = slot.lock();
            match &*slot {
                Some(old) if old.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
    }
}

/// The next tick at which a timer due at `due_nanos` may fire: the first tick not before it,
/// or the current tick when it is already due (so a zero delay fires on the next pass, TW-19).
pub(crate) fn tick_for(due_nanos: u64, now_nanos: u64, resolution_nanos: u64) -> u64 {
    if due_nanos <= now_nanos {
        now_nanos / resolution_nanos
    } else {
        due_nanos.div_ceil(resolution_nanos)
    }
}

/// Fires a timer the wheel just yielded, with the shard lock held: delivers or queues its action
/// and re-files a ticker on its cadence.
pub(crate) fn fire_locked(
    timer: Arc<TimerShared>,
    wheel: &mut Wheel<Arc<TimerShared>>,
    now: Instant,
    now_nanos: u64,
    resolution_nanos: u64,
    fired: &mut Fired,
) {
    timer.set_handle_locked(None);
    match &timer.action {
        Action::Send {
            tx,
            #[cfg(feature = "async")]
            waker,
        } => {
            // One slot, non-blocking: a reader that has not taken the last value misses this one.
            let _sent_or_full = tx.try_send(now);
            #[cfg(feature = "async")]
            if let Some(waker) = waker.lock().take() {
                fired.wakers.push(waker);
            }
        }
        Action::Call(f) => fired.calls.push(Arc::clone(f)),
    }
    let period = timer.period_nanos.load(Relaxed);
    let due = timer.due_nanos.load(Relaxed);
    // Keep the original cadence; skip the ticks that are already in the past (TW-16).
    if let Some(missed) = now_nanos.saturating_sub(due).checked_div(period) {
        let next = due.saturating_add(period.saturating_mul(missed.saturating_add(1)));
        timer.due_nanos.store(next, Relaxed);
        let tick = tick_for(next, now_nanos, resolution_nanos);
        let handle = wheel.insert(tick, Arc::clone(&timer));
        timer.set_handle_locked(Some(handle));
    }
}

#[cfg(test)]
mod tests {
    use super::tick_for;

    #[test]
    fn ticks_round_up_unless_already_due() {
        assert_eq!(tick_for(1_000, 0, 100), 10);
        assert_eq!(tick_for(1_001, 0, 100), 11);
        assert_eq!(tick_for(50, 250, 100), 2);
        assert_eq!(tick_for(u64::MAX, 0, 100), u64::MAX.div_ceil(100));
    }
}
